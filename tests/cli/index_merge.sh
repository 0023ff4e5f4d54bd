#!/usr/bin/env bash
# index --shard i/n and merge of tile-embedding stores: 8 scenes cut from RGB.byte.tif with
# gdal_translate, indexed by one process and as 3 shards by input and 2 shards by tile.
# `merge --sort` of the shards equals the single-process store (Python's sqlite3: metadata but
# `created`, the inputs table and every tile row with its embedding BLOB and corners, in order);
# an unsorted merge equals it up to order. merge refuses a missing shard, a shard given twice, a
# store of another run (float32 embeddings) and a tile present in two stores.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
mkdir in
k=0
for y in 0 300; do for x in 0 200 400 600; do
  gdal_translate -q -srcwin $x $y 190 160 "$D/RGB.byte.tif" in/scene_$k.tif; k=$((k + 1))
done; done
idx() { "$GEOLABEL" -q index --model "$M" --split 2x2 "$@"; }
idx in -o full.gpkg
for i in 0 1 2; do idx --shard $i/3 in -o s$i.gpkg; done
for i in 0 1; do idx --shard $i/2 --shard-by tile in -o t$i.gpkg; done
[ -s s0.gpkg.manifest.json ] && [ ! -e s0.part.gpkg ]
# Shards in reverse order: merge puts them in shard order itself.
"$GEOLABEL" -q merge --sort ms.gpkg s2.gpkg s1.gpkg s0.gpkg
"$GEOLABEL" -q merge m.gpkg s0.gpkg s1.gpkg s2.gpkg
"$GEOLABEL" -q merge --sort mt.gpkg t1.gpkg t0.gpkg
[ ! -e ms.part.gpkg ]

cat > check.py <<'PYEOF'
import sqlite3, sys
COLS = ("input, filename, tile, row, col, left, upper, right, lower, nodata, crs, lon, "
        "lat, lon_min, lat_min, lon_max, lat_max, corners, embedding")
def store(path):
    db = sqlite3.connect(path)
    meta = {k: v for k, v in db.execute("SELECT key, value FROM geolabel_meta") if k != "created"}
    inputs = db.execute("SELECT input, filename, width, height, geotransform, crs_wkt, tiles, "
                        "complete FROM geolabel_inputs ORDER BY id").fetchall()
    tiles = db.execute(f"SELECT {COLS} FROM tiles ORDER BY fid").fetchall()
    # each input's tiles are contiguous and in tiling order, as readers expect
    ids = db.execute("SELECT i.input, t.tile FROM tiles t JOIN geolabel_inputs i "
                     "ON t.input_id = i.id ORDER BY t.fid").fetchall()
    assert [r[:2] for r in ids] == [(r[0], r[2]) for r in tiles], path
    return meta, inputs, tiles
full = store("full.gpkg")
assert len(full[1]) == 8 and len(full[2]) == 32, (len(full[1]), len(full[2]))
for path, ordered in (("ms.gpkg", True), ("mt.gpkg", True), ("m.gpkg", False)):
    got = store(path)
    assert got[0] == full[0], (path, set(got[0].items()) ^ set(full[0].items()))
    if ordered:
        assert got[1] == full[1], path
        assert got[2] == full[2], path
    else:
        assert sorted(got[1]) == sorted(full[1]), path
        assert sorted(got[2]) == sorted(full[2]), path
    print(path, "equals the single-process store", "" if ordered else "up to order")
# the shards by input split the inputs: each in exactly one shard
seen = []
for i in range(3):
    seen += [r[0] for r in store(f"s{i}.gpkg")[1]]
assert sorted(seen) == sorted(r[0] for r in full[1]), seen
PYEOF
"$PY" check.py

refuse() { # refuse WHAT PATTERN ARGS...: merge must fail naming the problem, leaving no output
  what=$1 pat=$2
  shift 2
  if "$GEOLABEL" -q merge bad.gpkg "$@" 2> err.txt; then echo "merge accepted $what"; exit 1; fi
  grep -q "$pat" err.txt || { echo "$what: unexpected message:"; cat err.txt; exit 1; }
  [ ! -e bad.gpkg ] && [ ! -e bad.part.gpkg ]
}
refuse "a missing shard" "missing shard 1" s0.gpkg s2.gpkg
refuse "a shard twice" "both shard 0/3" s0.gpkg s0.gpkg s1.gpkg s2.gpkg
# Another run's store: shard 1 indexed with float32 embeddings.
idx --shard 1/3 --embedding-dtype f32 in -o f1.gpkg
refuse "another run's store" "dtype" s0.gpkg f1.gpkg s2.gpkg
# The same tiles twice: tile shard 0 passed off as shard 1 (its manifest says 1/2).
cp t0.gpkg d1.gpkg
sed 's/"index":[[:space:]]*0/"index": 1/' t0.gpkg.manifest.json > d1.gpkg.manifest.json
refuse "a repeated tile" "is in t0.gpkg and in d1.gpkg" t0.gpkg d1.gpkg
echo ok
