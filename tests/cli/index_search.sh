#!/usr/bin/env bash
# search: the top-k tiles by cosine for a text, an image and a stored tile, checked against numpy's
# brute force over the BLOBs read with Python's sqlite3 (the text query's embedding from `geolabel
# embed`, an independent path through the text tower); --min-score, --bbox and both outputs; the
# result does not depend on the thread count.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
IMG=$GEOLABEL_SHARED/data/imagery
"$GEOLABEL" -q index --model "$M" --tile 64 "$IMG/colorado_aerial.tif" "$IMG/RGB.byte.tif" \
  "$IMG/airport.jpg" -o tiles.gpkg
"$GEOLABEL" -q search --index tiles.gpkg --model "$M" --text "a road" --top 7 -o text.csv
"$GEOLABEL" -q search --index tiles.gpkg --model "$M" --text "a road" --top 7 --threads 1 -o text1.csv
cmp text.csv text1.csv
"$GEOLABEL" -q search --index tiles.gpkg --model "$M" --text "a road" --text "a street" --top 5 -o two.csv
"$GEOLABEL" -q search --index tiles.gpkg --model "$M" --image "$IMG/airport.jpg" --top 5 -o image.geojson
"$GEOLABEL" -q search --index tiles.gpkg --tile 5 --top 400 --min-score 0.9 -o tile.csv
"$GEOLABEL" -q search --index tiles.gpkg --tile 5 --top 50 --bbox -104.7752,38.9530,-104.7740,38.9540 -o bbox.csv
"$GEOLABEL" -q embed --model "$M" --text -o q.npy "a road" "a street"
"$GEOLABEL" -q embed --model "$M" -o img.npy "$IMG/airport.jpg"
"$PY" - <<'PYEOF'
import csv, json, sqlite3, numpy as np
db = sqlite3.connect("tiles.gpkg")
rows = db.execute("SELECT fid, embedding, lon_min, lat_min, lon_max, lat_max FROM tiles WHERE nodata = 0 ORDER BY fid").fetchall()
ids = np.array([r[0] for r in rows])
E = np.stack([np.frombuffer(r[1], "<f2").astype(np.float64) for r in rows])
def top(q, k, mask=None, min_score=-2):
    q = q / np.linalg.norm(q)
    s = E @ q
    order = sorted(range(len(ids)), key=lambda i: (-s[i], ids[i]))
    out = [(int(ids[i]), s[i]) for i in order if (mask is None or mask[i]) and s[i] >= min_score]
    return out[:k]
def check(path, want, tol=2e-5):
    got = list(csv.DictReader(open(path, newline="")))
    assert len(got) == len(want), (path, len(got), len(want))
    for g, (i, s) in zip(got, want):
        # equal ids, unless two scores tie within float rounding
        assert int(g["tile_id"]) == i or abs(float(g["score"]) - s) < tol, (path, g, i, s)
        assert abs(float(g["score"]) - s) < tol, (path, g["score"], s)
    assert [int(g["rank"]) for g in got] == list(range(1, len(got) + 1))
    return got
T = np.load("q.npy").astype(np.float64)
t0 = T[0] / np.linalg.norm(T[0])
check("text.csv", top(t0, 7))
ens = T / np.linalg.norm(T, axis=1, keepdims=True)
check("two.csv", top(ens.sum(0), 5))
tile5 = E[list(ids).index(5)]
want = top(tile5, 400, min_score=0.9)
assert want[0][0] == 5
check("tile.csv", want)
b = (-104.7752, 38.9530, -104.7740, 38.9540)
mask = np.array([r[2] is not None and r[2] <= b[2] and r[4] >= b[0] and r[3] <= b[3] and r[5] >= b[1] for r in rows])
assert 0 < mask.sum() < len(rows)
check("bbox.csv", top(tile5, 50, mask=mask))
g = json.load(open("image.geojson"))
I = np.load("img.npy")[0].astype(np.float64)
want = top(I, 5)
assert [f["properties"]["tile_id"] for f in g["features"]] == [w[0] for w in want] or \
    all(abs(f["properties"]["score"] - w[1]) < 2e-5 for f, w in zip(g["features"], want))
for f in g["features"]:
    p = f["properties"]
    if f["geometry"]:
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == 5
        xs = [x for x, y in ring]; ys = [y for x, y in ring]
        assert min(xs) <= p["lon"] <= max(xs) and min(ys) <= p["lat"] <= max(ys)
print("search ok:", len(rows), "tiles")
PYEOF
if "$GEOLABEL" search --index tiles.gpkg --tile 99999 -o x.csv 2> err.txt; then exit 1; fi
grep -q "tile 99999 does not exist" err.txt
if "$GEOLABEL" search --index tiles.gpkg --tile 1 --text x -o x.csv 2> err.txt; then exit 1; fi
echo ok
