#!/usr/bin/env bash
# `index --resume` skips the inputs the store already holds complete without opening them: with
# one input indexed and its file then deleted (a scratch copy, a bucket object since expired), a
# resumed run over both inputs succeeds, reports it as kept, and the store equals an uninterrupted
# run over both (Python's sqlite3: every tile once, embeddings byte-equal, both inputs complete).
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
IMG=$GEOLABEL_SHARED/data/imagery
cp "$IMG/RGB.byte.tif" a.tif
cp "$IMG/colorado_aerial.tif" b.tif
"$GEOLABEL" -q index --model "$M" --tile 64 --threads 1 a.tif b.tif -o ref.gpkg
"$GEOLABEL" -q index --model "$M" --tile 64 --threads 1 a.tif -o out.gpkg
rm a.tif
"$GEOLABEL" index --model "$M" --tile 64 --threads 1 --resume a.tif b.tif -o out.gpkg 2> resume.err ||
  { cat resume.err; exit 1; }
grep -q "1 labelled, 1 already complete, 0 failed" resume.err || { cat resume.err; exit 1; }
"$PY" - <<'PYEOF'
import sqlite3
def load(p):
    db = sqlite3.connect(p)
    inputs = {i: (name, tiles, done) for i, name, tiles, done in
              db.execute("SELECT id, input, tiles, complete FROM geolabel_inputs")}
    tiles = sorted((inputs[i][0], t, n, e) for i, t, n, e in
                   db.execute("SELECT input_id, tile, nodata, embedding FROM tiles"))
    return sorted(inputs.values()), tiles
ri, rt = load("ref.gpkg")
oi, ot = load("out.gpkg")
assert ri == oi and [x[0] for x in oi] == ["a.tif", "b.tif"] and all(x[2] == 1 for x in oi), (ri, oi)
assert len(rt) == len(ot) == sum(x[1] for x in ri) and rt == ot, (len(rt), len(ot))
print("resumed store equals the uninterrupted one:", len(ot), "tiles")
PYEOF
