#!/usr/bin/env bash
# predict's and dataset build's shard manifests name what made the rows: predict records its
# head's sha256 (hashlib's of the checkpoint file) (and, with --image or --meta, the model's
# hash: no fixture head takes the fixture models' embeddings); dataset build the model's hash. A head or model replaced under the same path between the tasks of one
# run is caught: merge refuses predict shards of two heads, and dataset build refuses to resume
# an output whose rows another model embedded (the output left as it was).
set -eu
F=$GEOLABEL_SHARED/fixtures/geograph
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
M2=$GEOLABEL_SHARED/fixtures/clip-tiny-l14-336
I=$GEOLABEL_SHARED/fixtures/expected/images
predict() { "$GEOLABEL" -q predict --head head.pth --data "$F/expected/inputs.jsonl" "$@"; }
cp "$F/best_geograph_model_v2.pth" head.pth
predict --shard 0/2 -o a0.csv
predict --shard 1/2 -o a1.csv
"$GEOLABEL" -q merge same.csv a0.csv a1.csv
cp "$F/best_geograph_model_v2.1.pth" head.pth # retrained under the same name
predict --shard 1/2 -o b1.csv
if "$GEOLABEL" -q merge mixed.csv a0.csv b1.csv 2> merge.err; then
  echo "merge took shards of two heads"; exit 1
fi
grep -q "head_sha256" merge.err || { cat merge.err; exit 1; }
[ "$(wc -l < merge.err)" -eq 1 ] && [ ! -e mixed.csv ]
"$PY" - "$F" <<'PYEOF'
import hashlib, json, sys
F = sys.argv[1]
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
for out, head in (("a0", "best_geograph_model_v2.pth"), ("a1", "best_geograph_model_v2.pth"),
                  ("b1", "best_geograph_model_v2.1.pth")):
    m = json.load(open(out + ".csv.manifest.json"))
    assert m["command"] == "predict" and m["head_sha256"] == sha(f"{F}/{head}"), (out, m)
PYEOF

# dataset build: the model folder replaced by another model between two runs of one shard.
imgs=("$I"/*.png)
{ echo "id,path,e1,n1,e2,n2,types,split,weight"; k=0
  for f in "${imgs[@]}"; do echo "$k,$f,100,200,103,204,Aerial,tra,1"; k=$((k + 1)); done; } > meta.csv
cp -r "$M" model
"$GEOLABEL" -q dataset build --model model --meta meta.csv --shard 0/1 -o d.jsonl 2> /dev/null
sha256sum d.jsonl > d.sum
rm -r model && cp -r "$M2" model
if "$GEOLABEL" -q dataset build --model model --meta meta.csv --shard 0/1 -o d.jsonl 2> build.err; then
  echo "dataset build resumed rows of another model"; exit 1
fi
grep -q "another model" build.err || { cat build.err; exit 1; }
sha256sum -c --quiet d.sum
rm -r model && cp -r "$M" model # the same model again: resumes, nothing to add
"$GEOLABEL" dataset build --model model --meta meta.csv --shard 0/1 -o d.jsonl 2> again.err
grep -q "0 rows added" again.err
sha256sum -c --quiet d.sum
"$PY" -c '
import json
m = json.load(open("d.jsonl.manifest.json"))
assert m["command"] == "dataset build" and len(m["model_hash"]) == 32, m
'
