#!/usr/bin/env bash
# label --from-index --shard i/n (or the scheduler's shard) labels only the shard's tiles: by
# input, the inputs an independent Python FNV-1a + SplitMix64 gives the shard; by tile, the tiles
# whose "PATH#ROW,COL" it gives. Each shard's manifest lists its inputs with their places among
# the index's, so `merge --sort` of the shards equals the unsharded relabel row for row (Python
# csv; GPKG by sqlite3). Before, every shard wrote every tile under a manifest naming its shard,
# and merge refused the repeated tiles.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'water\nforest\nroad\n' > classes.txt
"$GEOLABEL" -q index --model "$M" --tile 224 "$D/RGB.byte.tif" "$D/Kauai.png" "$D/airport.jpg" \
  "$D/rs5m_golf.jpg" "$D/rs5m_urban_rail.jpg" -o ix.gpkg
rl() { "$GEOLABEL" -q label --from-index ix.gpkg --model "$M" --classes classes.txt "$@"; }
rl -o full.csv
rl -o full.gpkg
for n in 2 3; do
  for i in $(seq 0 $((n - 1))); do
    rl --shard $i/$n -o in${n}_$i.csv
    rl --shard $i/$n --shard-by tile -o tile${n}_$i.csv
  done
  "$GEOLABEL" -q merge --sort min$n.csv in${n}_*.csv
  "$GEOLABEL" -q merge --sort mtile$n.csv tile${n}_*.csv
done
# the scheduler's shard (a Slurm array task) is the same as --shard
SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 rl -o slurm.csv
cmp slurm.csv in3_1.csv
for i in 0 1; do rl --shard $i/2 --shard-by tile -o g$i.gpkg; done
"$GEOLABEL" -q merge --sort mg.gpkg g0.gpkg g1.gpkg
"$PY" - <<'PYEOF'
import csv, json, os, sqlite3, sys
sys.path.insert(0, os.path.join(os.environ["GEOLABEL_ROOT"], "tests", "lib"))
from shard_hash import shard_of
rows = lambda p: list(csv.reader(open(p, newline="")))
full = rows("full.csv")
h = full[0]
I, R, C = h.index("input"), h.index("row"), h.index("col")
inputs = sorted({r[I] for r in full[1:]})
assert len(inputs) == 5 and len(full) > 40, (len(inputs), len(full))
for n in (2, 3):
    for by in ("in", "tile"):
        seen = []
        for i in range(n):
            s = rows(f"{by}{n}_{i}.csv")
            assert s[0] == h
            for r in s[1:]:
                key = r[I] if by == "in" else "%s#%s,%s" % (r[I], r[R], r[C])
                assert shard_of(key, n) == i, (by, n, i, key)
            seen += s[1:]
            m = json.load(open(f"{by}{n}_{i}.csv.manifest.json"))
            assert m["shard"] == {"index": i, "count": n, "by": "input" if by == "in" else "tile"}, m
            ins = m["inputs"]
            assert ins["total"] == 5, ins
            want = [x for x in inputs if by == "tile" or shard_of(x, n) == i]
            assert sorted(k for _, k in ins["list"]) == want, (ins, want)
        assert sorted(seen) == sorted(full[1:]), (by, n, "the shards do not partition the tiles")
        assert rows(f"m{by}{n}.csv") == full, (by, n, "merge --sort differs from the single run")
q = "SELECT input, row, col, classification, score FROM %s ORDER BY input, row, col"
def table(p):
    db = sqlite3.connect(p)
    names = [r[0] for r in db.execute("SELECT table_name FROM gpkg_contents WHERE table_name LIKE 'labels%'")]
    return sorted(sum((db.execute(q % t).fetchall() for t in names), []))
a, b = table("full.gpkg"), table("mg.gpkg")
assert a == b and len(a) == len(full) - 1, (len(a), len(b))
print("ok")
PYEOF
