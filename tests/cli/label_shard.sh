#!/usr/bin/env bash
# label --shard i/n and merge: 15 scenes cut from RGB.byte.tif with gdal_translate. For n = 1, 2, 7
# every input lands in exactly one shard, the one an independent Python FNV-1a + SplitMix64 picks;
# `merge --sort` equals the single-process CSV row for row, an unsorted merge equals it up to order
# (Python csv). GeoJSON split by tile and GPKG merge to the single run's features (Python json,
# sqlite3). The schedulers' variables pick the same shards as --shard. The shard's manifest is the
# run manifest with its shard and inputs (sha256 by hashlib). merge refuses, in one line naming
# the files: a missing shard, a shard given twice, shards of another split, tiling, class list,
# context, model weights (model_hash) or input list, a repeated tile or input, a missing
# manifest. A shard resumes, only as itself.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'sea\ncity\nfields\n' > classes.txt
mkdir in
k=0
for y in 0 200 400; do for x in 0 150 300 450 600; do
  gdal_translate -q -srcwin $x $y 190 160 "$D/RGB.byte.tif" in/scene_$k.tif; k=$((k + 1))
done; done
run() { "$GEOLABEL" -q label --model "$M" --classes classes.txt --split 2x2 "$@"; }
run in -o full.csv

cat > check.py <<'PYEOF'
import csv, sys
import os
sys.path.insert(0, os.path.join(os.environ["GEOLABEL_ROOT"], "tests", "lib"))
from shard_hash import shard_of
def rows(p):
    return list(csv.reader(open(p, newline="")))
mode = sys.argv[1]
if mode == "partition":
    n = int(sys.argv[2])
    full = rows("full.csv")
    col = full[0].index("input")
    inputs = {r[col] for r in full[1:]}
    owner = {}
    for i in range(n):
        for r in rows(f"s{n}_{i}.csv")[1:]:
            assert owner.setdefault(r[col], i) == i, f"{r[col]} in shards {owner[r[col]]} and {i}"
    assert set(owner) == inputs, f"n={n}: {len(owner)} of {len(inputs)} inputs in the shards"
    for key, i in owner.items():
        assert shard_of(key, n) == i, f"n={n}: {key} in shard {i}, hash says {shard_of(key, n)}"
    m, ms = rows(f"m{n}.csv"), rows(f"ms{n}.csv")
    assert ms == full, f"n={n}: merge --sort differs from the single run"
    assert m[0] == full[0] and sorted(m[1:]) == sorted(full[1:]), f"n={n}: merge differs"
    print(f"n={n}: {len(inputs)} inputs, shard sizes",
          [sum(1 for v in owner.values() if v == i) for i in range(n)])
elif mode == "same":
    a, b = rows(sys.argv[2]), rows(sys.argv[3])
    assert a == b, f"{sys.argv[2]} != {sys.argv[3]}"
PYEOF

for n in 1 2 7; do
  shards=""
  for i in $(seq 0 $((n - 1))); do
    run --shard $i/$n in -o s${n}_$i.csv
    shards="$shards s${n}_$i.csv"
  done
  # Shards given in reverse order: merge puts them in shard order itself.
  "$GEOLABEL" -q merge m$n.csv $(echo $shards | tr ' ' '\n' | tac)
  "$GEOLABEL" -q merge --sort ms$n.csv $shards
  "$PY" check.py partition $n
done

# The schedulers' array variables choose the shard --shard would.
SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=7 run in -o slurm.csv
JOB_COMPLETION_INDEX=4 run --shard-count 7 in -o k8s.csv
AWS_BATCH_JOB_ARRAY_INDEX=4 AWS_BATCH_JOB_ARRAY_SIZE=7 run in -o aws.csv
for f in slurm k8s aws; do "$PY" check.py same s7_4.csv $f.csv; done
if JOB_COMPLETION_INDEX=4 run in -o bad.csv 2> k8s.err; then exit 1; fi
grep -q "needs --shard-count" k8s.err

# The shard's manifest is the run manifest (one per output): model and its hash, classes, options,
# version, the shard and its inputs with the whole list's sha256 (Python's hashlib).
"$PY" - <<'PYEOF'
import csv, hashlib, json
m = json.load(open("s2_1.csv.manifest.json"))
for k in ("model", "model_hash", "classes", "tiling", "bands", "stretch", "version", "llm"):
    assert isinstance(m[k], str), k
assert m["classes"] == "sea;city;fields" and m["tiling"] == "split 2x2 cover", m
assert m["shard"] == {"index": 1, "count": 2, "by": "input"}, m["shard"]
full = list(csv.DictReader(open("full.csv", newline="")))
order = list(dict.fromkeys(r["input"] for r in full))  # the single run's input order
assert m["inputs"]["total"] == len(order) == 15
assert m["inputs"]["sha256"] == hashlib.sha256(b"".join(k.encode() + b"\0" for k in order)).hexdigest()
assert all(order[o] == k for o, k in m["inputs"]["list"]), m["inputs"]["list"]
assert not any(k.endswith(".journal") for k in m)
print("manifest ok:", len(m["inputs"]["list"]), "inputs in shard 1/2")
PYEOF

# Refusals, each one line naming the files and the problem; no output left behind.
fails() {
  if "$GEOLABEL" merge "$@" 2> err.txt; then echo "merge $* succeeded"; exit 1; fi
  cat err.txt; [ "$(wc -l < err.txt)" -eq 1 ] && [ ! -e "$1" ]
}
fails x.csv s7_0.csv s7_1.csv s7_2.csv s7_3.csv s7_5.csv s7_6.csv
grep -q "6 of 7 shards given (s7_0.csv, s7_1.csv, .*s7_6.csv); missing shard 4" err.txt
fails x.csv s2_0.csv s2_0.csv
grep -q "s2_0.csv and s2_0.csv are both shard 0/2" err.txt
cp s2_1.csv again.csv; cp s2_1.csv.manifest.json again.csv.manifest.json
fails x.csv s2_0.csv s2_1.csv again.csv
grep -q "s2_1.csv and again.csv are both shard 1/2" err.txt
run --split 3x3 --shard 1/2 in -o other.csv
fails x.csv s2_0.csv other.csv
grep -q "s2_0.csv and other.csv come from different runs: their manifests differ in 'tiling' ('split 2x2 cover' and 'split 3x3 cover')" err.txt
fails x.csv s2_0.csv s7_1.csv
grep -q "s7_1.csv is shard 1/7 but s2_0.csv is shard 0/2" err.txt
# Another class list under the same file name, other options, the same model path with other
# weights (one float of the safetensors changed in its last mantissa byte): all refused.
printf 'sea\ncity\nforest\n' > classes2.txt
"$GEOLABEL" -q label --model "$M" --classes classes2.txt --split 2x2 --shard 1/2 in -o cls.csv
fails x.csv s2_0.csv cls.csv
grep -q "s2_0.csv and cls.csv come from different runs: their manifests differ in 'classes' ('sea;city;fields' and 'sea;city;forest')" err.txt
run --shard 1/2 --context "An aerial photo" in -o ctx.csv
fails x.csv s2_0.csv ctx.csv
grep -q "s2_0.csv and ctx.csv come from different runs: their manifests differ in 'context'" err.txt
mkdir mdl
for f in "$M"/*; do ln -s "$f" mdl/; done
rm mdl/model.safetensors; cp "$M/model.safetensors" mdl/; chmod u+w mdl/model.safetensors
"$GEOLABEL" -q label --model mdl --classes classes.txt --split 2x2 --shard 0/2 in -o w0.csv
"$PY" - <<'PYEOF'
import struct
with open("mdl/model.safetensors", "r+b") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    f.seek(8 + n + 64)       # a float32 of the first tensor: its lowest mantissa byte
    b = f.read(1)
    f.seek(8 + n + 64)
    f.write(bytes([b[0] ^ 1]))
PYEOF
"$GEOLABEL" -q label --model mdl --classes classes.txt --split 2x2 --shard 1/2 in -o w1.csv
fails x.csv w0.csv w1.csv
grep -q "w0.csv and w1.csv come from different runs: their manifests differ in 'model_hash'" err.txt
# Another input list (one scene fewer): the whole list's digest differs even where a shard's
# own inputs agree.
run --shard 1/2 $(ls in/*.tif | sed 1d) -o fewer.csv
fails x.csv s2_0.csv fewer.csv
grep -q "s2_0.csv and fewer.csv were run over different input lists (15 and 14 inputs)" err.txt
cp s2_1.csv dup.csv; cp s2_1.csv.manifest.json dup.csv.manifest.json
sed -n 2p s2_0.csv >> dup.csv
fails x.csv s2_0.csv dup.csv
grep -q "is in s2_0.csv and in dup.csv" err.txt
# A manifest that lists another shard's input in place of its own: refused before any row.
"$PY" - <<'PYEOF'
import json
m = json.load(open("s2_1.csv.manifest.json"))
m["inputs"]["list"][0] = json.load(open("s2_0.csv.manifest.json"))["inputs"]["list"][0]
json.dump(m, open("twice.csv.manifest.json", "w"))
PYEOF
cp s2_1.csv twice.csv
fails x.csv s2_0.csv twice.csv
grep -q "is in s2_0.csv and in twice.csv: not one run's shards" err.txt
cp s2_1.csv nomani.csv
fails x.csv s2_0.csv nomani.csv
grep -q "nomani.csv: no run manifest beside it" err.txt
# A merged output's manifest is one run's: no shard, every input in the run's order.
"$PY" - <<'PYEOF'
import json
m, s = json.load(open("ms2.csv.manifest.json")), json.load(open("s2_0.csv.manifest.json"))
assert "shard" not in m and m["merged_shards"] == 2, m.keys()
assert [o for o, _ in m["inputs"]["list"]] == list(range(15)) and m["model_hash"] == s["model_hash"]
PYEOF

# A shard resumes: its complete inputs are kept, the rest labelled again. Only as itself: the
# other shard's --resume onto it is refused by its manifest.
head -n 5 s2_0.csv > r.csv
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 --shard 0/2 --resume in \
  -o r.csv 2> r.err
grep -q "1 already complete" r.err
"$PY" check.py same s2_0.csv r.csv
cp r.csv r.before.csv
rc=0; run --shard 1/2 --resume in -o r.csv 2> r1.err || rc=$?
cat r1.err
[ "$rc" -eq 2 ] && grep -q "r.csv was made with shard" r1.err && grep -q -- "--force" r1.err
cmp r.csv r.before.csv

# GeoJSON by tile (every input in every shard, its tiles split), and GPKG.
run --split 3x3 in -o full.geojson
run --split 3x3 in -o full.gpkg
for i in 0 1 2; do run --split 3x3 --shard $i/3 --shard-by tile in -o t$i.geojson; done
"$GEOLABEL" -q merge t.geojson t0.geojson t1.geojson t2.geojson
for i in 0 1; do run --split 3x3 --shard $i/2 in -o g$i.gpkg; done
"$GEOLABEL" -q merge --sort g.gpkg g0.gpkg g1.gpkg
"$PY" - <<'PYEOF'
import json, sqlite3
key = lambda f: json.dumps(f, sort_keys=True)
full, merged = json.load(open("full.geojson")), json.load(open("t.geojson"))
assert sorted(map(key, full["features"])) == sorted(map(key, merged["features"])), "GeoJSON"
parts = [json.load(open(f"t{i}.geojson"))["features"] for i in range(3)]
assert all(parts) and sum(map(len, parts)) == len(full["features"]) == 15 * 9
def rows(p):
    c = sqlite3.connect(p)
    cols = [r[1] for r in c.execute("pragma table_info(labels)") if r[1] != "fid"]
    return [r for r in c.execute(f"select {', '.join(cols)} from labels order by fid")]
assert rows("full.gpkg") == rows("g.gpkg") and len(rows("g.gpkg")) == 135, "GPKG"
print("geojson by tile and gpkg merges ok")
PYEOF
