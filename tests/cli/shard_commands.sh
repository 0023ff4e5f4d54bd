#!/usr/bin/env bash
# --shard on embed, locate, predict and dataset build: for n = 2 and 3 the shards' rows are a
# partition of the single run's rows, each equal to it (Python csv/json; predict's
# probabilities to float rounding), in the shard an
# independent FNV-1a + SplitMix64 picks for its key (image path, or gridimage_id for predict
# --data); `merge --sort` of locate's CSV shards equals the single run. embed's shard manifests
# carry the model hash and the input list's sha256 (hashlib).
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
F=$GEOLABEL_SHARED/fixtures/geograph
I=$GEOLABEL_SHARED/fixtures/expected/images
D=$GEOLABEL_SHARED/data/imagery
export GEOLABEL_CACHE=$PWD/cache
imgs=("$I"/*.png "$I"/*.jpg "$D"/*.jpg)
printf '%s\n' "${imgs[@]}" > imgs.txt
"$GEOLABEL" -q embed --model "$M" -o e.jsonl "${imgs[@]}"
"$GEOLABEL" -q locate --model "$M" -o loc.csv "$D"/*.jpg "$D"/Kauai.png
"$GEOLABEL" -q predict --head "$F/best_geograph_model_v2.pth" --data "$F/expected/inputs.jsonl" \
  -o p.csv --threshold 0.2
{ echo "id,path,e1,n1,e2,n2,types,split,weight"; k=0
  for f in "${imgs[@]}"; do echo "$k,$f,100,200,103,204,Aerial,tra,1"; k=$((k + 1)); done; } > meta.csv
"$GEOLABEL" -q dataset build --model "$M" --meta meta.csv -o d.jsonl 2> /dev/null
for n in 2 3; do
  for i in $(seq 0 $((n - 1))); do
    "$GEOLABEL" -q embed --model "$M" --shard $i/$n -o e${n}_$i.jsonl "${imgs[@]}"
    "$GEOLABEL" -q locate --model "$M" --shard $i/$n -o loc${n}_$i.csv "$D"/*.jpg "$D"/Kauai.png
    "$GEOLABEL" -q predict --head "$F/best_geograph_model_v2.pth" --data "$F/expected/inputs.jsonl" \
      --shard $i/$n -o p${n}_$i.csv --threshold 0.2
    "$GEOLABEL" -q dataset build --model "$M" --meta meta.csv --shard $i/$n -o d${n}_$i.jsonl 2> /dev/null
  done
  "$GEOLABEL" -q merge --sort locm$n.csv loc${n}_*.csv
  "$GEOLABEL" -q merge --sort pm$n.csv p${n}_*.csv
done
"$PY" - <<'PYEOF'
import csv, json
import os, sys
sys.path.insert(0, os.path.join(os.environ["GEOLABEL_ROOT"], "tests", "lib"))
from shard_hash import shard_of
def jsonl(p, key):
    return {str(r[key]): r for r in map(json.loads, open(p))}
def csvrows(p):
    return list(csv.reader(open(p, newline="")))
meta = {r["id"]: r["path"] for r in csv.DictReader(open("meta.csv"))}
checks = (("e", "jsonl", "id", lambda k: k), ("d", "jsonl", "gridimage_id", lambda k: meta[k]))
for n in (2, 3):
    for name, kind, key, shard_key in checks:
        full = jsonl(f"{name}.jsonl", key)
        seen = {}
        for i in range(n):
            for k, r in jsonl(f"{name}{n}_{i}.jsonl", key).items():
                assert k not in seen, f"{name}: {k} in two shards"
                assert shard_of(shard_key(k), n) == i, f"{name}: {k} in shard {i}"
                assert r == full[k], f"{name}: row {k} differs"
                seen[k] = i
        assert set(seen) == set(full) and len(full) > 4, (name, n, len(seen), len(full))
    full = csvrows("p.csv")
    parts = [csvrows(f"p{n}_{i}.csv") for i in range(n)]
    assert all(p[0] == full[0] for p in parts)
    for i, p in enumerate(parts):
        assert all(shard_of(r[0], n) == i for r in p[1:]), f"predict shard {i}"
    # Batches hold other rows in a shard: probabilities agree to float rounding.
    def same(a, b):
        return a[0] == b[0] and a[-1] == b[-1] and all(
            abs(float(x) - float(y)) <= 1e-6 for x, y in zip(a[1:-1], b[1:-1]))
    byid = {r[0]: r for r in full[1:]}
    got = [r for p in parts for r in p[1:]]
    assert sorted(r[0] for r in got) == sorted(byid) and all(same(r, byid[r[0]]) for r in got)
    merged = csvrows(f"pm{n}.csv")
    assert merged[0] == full[0] and [r[0] for r in merged[1:]] == sorted(byid)
    assert all(same(r, byid[r[0]]) for r in merged[1:]), "predict merge"
    assert csvrows(f"locm{n}.csv") == csvrows("loc.csv"), f"locate merge n={n}"
# Each embed shard's manifest carries the model's hash (the same in every shard), its shard, and
# its inputs with the whole list's sha256 (hashlib): what merge compares.
import hashlib
keys = open("imgs.txt").read().split("\n")[:-1]
want = hashlib.sha256(b"".join(k.encode() + b"\0" for k in keys)).hexdigest()
for n in (2, 3):
    ms = [json.load(open(f"e{n}_{i}.jsonl.manifest.json")) for i in range(n)]
    assert all(m["command"] == "embed" and len(m["model_hash"]) == 32 for m in ms), ms[0]
    assert len({m["model_hash"] for m in ms}) == 1
    assert [m["shard"]["index"] for m in ms] == list(range(n))
    assert all(m["inputs"]["sha256"] == want and m["inputs"]["total"] == len(keys) for m in ms)
    assert sorted(o for m in ms for o, _ in m["inputs"]["list"]) == list(range(len(keys)))
print("embed, locate, predict, dataset build shards partition the single runs")
PYEOF
