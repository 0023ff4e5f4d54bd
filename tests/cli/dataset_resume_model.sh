#!/usr/bin/env bash
# dataset build records the model that embeds its rows unsharded too (OUT.manifest.json, written
# before the first row, so a run that dies part way is covered): a resume with another model, or
# with another compute dtype, is refused in one line naming the file and both hashes (or dtypes),
# the output left as it was; the same model resumes; an output made before the record existed
# (rows, no manifest) resumes with a warning and gets one.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
M2=$GEOLABEL_SHARED/fixtures/clip-tiny-l14-336
I=$GEOLABEL_SHARED/fixtures/expected/images
imgs=("$I"/*.png)
# 20 rows (two batches of 16) of the fixture images; row 18's image does not exist, so the first
# run stops after appending the first batch, as a killed run would
{ echo "id,path,e1,n1,e2,n2,types,split,weight"
  for k in $(seq 0 19); do
    f=${imgs[$((k % ${#imgs[@]}))]}
    [ "$k" -eq 18 ] && f=$PWD/missing.png
    echo "$k,$f,100,200,103,204,Aerial,tra,1"
  done; } > meta.csv
cp -r "$M" model
if "$GEOLABEL" -q dataset build --model model --meta meta.csv -o d.jsonl 2> first.err; then
  echo "the first build did not stop at the missing image"; exit 1
fi
grep -q "missing.png" first.err || { cat first.err; exit 1; }
[ "$(wc -l < d.jsonl)" -eq 16 ] || { echo "expected the first batch (16 rows)"; wc -l d.jsonl; exit 1; }
[ -f d.jsonl.manifest.json ] || { echo "no manifest beside an unsharded, interrupted build"; exit 1; }
sha256sum d.jsonl d.jsonl.manifest.json > d.sum
# each model's hash as label records it (another writer of the same manifest member)
echo water > classes.txt
"$GEOLABEL" -q label --model "$M" --classes classes.txt "${imgs[0]}" -o a.csv
"$GEOLABEL" -q label --model "$M2" --classes classes.txt "${imgs[0]}" -o b.csv
"$PY" - <<'PYEOF'
import json
m = json.load(open("d.jsonl.manifest.json"))
a = json.load(open("a.csv.manifest.json"))["model_hash"]
b = json.load(open("b.csv.manifest.json"))["model_hash"]
assert m["command"] == "dataset build" and m["model_hash"] == a, (m, a)
assert m["compute_dtype"] == "f32" and "shard" not in m, m
assert a != b and len(a) == 32 and len(b) == 32
open("hashes", "w").write(a + " " + b + "\n")
PYEOF
read -r HA HB < hashes
sed -i "s#$PWD/missing.png#${imgs[0]}#" meta.csv

# another model under the same path: refused before any row, one line naming both hashes
rm -r model && cp -r "$M2" model
if "$GEOLABEL" dataset build --model model --meta meta.csv -o d.jsonl 2> other.err; then
  echo "dataset build resumed rows of another model"; exit 1
fi
[ "$(wc -l < other.err)" -eq 1 ] || { cat other.err; exit 1; }
grep -q "d.jsonl: its rows were embedded by another model (hash $HA in d.jsonl.manifest.json, this one $HB)" other.err ||
  { cat other.err; exit 1; }
sha256sum -c --quiet d.sum

# the same rows marked as computed in int8: an f32 resume is refused the same way
rm -r model && cp -r "$M" model
cp d.jsonl.manifest.json keep.json
"$PY" -c '
import json
m = json.load(open("d.jsonl.manifest.json")); m["compute_dtype"] = "int8"
json.dump(m, open("d.jsonl.manifest.json", "w"))'
if "$GEOLABEL" dataset build --model model --meta meta.csv -o d.jsonl 2> dtype.err; then
  echo "dataset build resumed int8 rows in f32"; exit 1
fi
[ "$(wc -l < dtype.err)" -eq 1 ] || { cat dtype.err; exit 1; }
grep -q "d.jsonl: its rows were embedded in compute dtype int8 (d.jsonl.manifest.json), this run computes f32" dtype.err ||
  { cat dtype.err; exit 1; }
cmp d.jsonl <(head -16 d.jsonl) # unchanged
mv keep.json d.jsonl.manifest.json
sha256sum -c --quiet d.sum

# the same model resumes: the 4 missing rows are appended, equal to a fresh build's
"$GEOLABEL" dataset build --model model --meta meta.csv -o d.jsonl 2> same.err
grep -q "4 rows added, 16 already present" same.err || { cat same.err; exit 1; }
"$GEOLABEL" -q dataset build --model "$M" --meta meta.csv -o fresh.jsonl
cmp d.jsonl fresh.jsonl

# an output from before the record (rows, no manifest): resumes with a warning, then is recorded
head -10 fresh.jsonl > old.jsonl
"$GEOLABEL" dataset build --model "$M" --meta meta.csv -o old.jsonl 2> old.err
grep -q "old.jsonl: no record of the model that embedded its 10 rows" old.err || { cat old.err; exit 1; }
grep -q "10 rows added, 10 already present" old.err || { cat old.err; exit 1; }
cmp old.jsonl fresh.jsonl
"$PY" -c '
import json, sys
m = json.load(open("old.jsonl.manifest.json"))
assert m["model_hash"] == sys.argv[1] and m["compute_dtype"] == "f32", m' "$HA"
if "$GEOLABEL" -q dataset build --model "$M2" --meta meta.csv -o old.jsonl 2> old2.err; then
  echo "the recorded output resumed with another model"; exit 1
fi
grep -q "another model (hash $HA in old.jsonl.manifest.json, this one $HB)" old2.err || { cat old2.err; exit 1; }
echo ok
