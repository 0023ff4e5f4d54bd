#!/usr/bin/env bash
# label -o labels.tif, checked with GDAL: `gdalinfo -json` gives a Byte COG (tiled, DEFLATE) with
# the scene's CRS and its geotransform scaled to one pixel per tile (or to --raster-res, each
# pixel then the label of the tile under its centre), the colour table of a --colors
# file, a raster attribute table naming the classes; values read with GDAL equal the CSV's label of
# each tile; overlapping windows blend the CSV's probabilities; nodata tiles are 0 (the band's
# nodata); --probabilities float bands hold each tile's probabilities; several scenes give one file
# each; `label --from-index` writes the same raster; the GeoJSON's .qml uses the same colours.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
IMG=$GEOLABEL_SHARED/data/imagery/colorado_aerial.tif
"$PY" "$(dirname "$0")/half_nodata.py"
printf 'road\nhouses\ntrees\nwater\n' > classes.txt
printf 'class,color\nroad,#ff0000\nhouses,#00ff00\ntrees,#0000ff\nwater,#00ffff\n' > colors.csv
L="$GEOLABEL -q label --model $M --classes classes.txt --colors colors.csv"
$L --split 3x4 "$IMG" -o split.csv
$L --split 3x4 --probabilities "$IMG" -o split.tif
$L --tile 128 --overlap 64 "$IMG" -o win.csv
$L --tile 128 --overlap 64 --probabilities "$IMG" -o win.tif
$L --split 2x4 half.tif -o half.csv
$L --split 2x4 half.tif -o half.tif.out.tif
$L --split 2x4 "$IMG" half.tif -o multi.tif
$L --split 3x4 "$IMG" -o split.geojson
R=$(gdalinfo -json "$IMG" | "$PY" -c 'import json, sys; print(abs(json.load(sys.stdin)["geoTransform"][1]) * 8)')
$L --split 3x4 --raster-res "$R" "$IMG" -o res.tif
"$GEOLABEL" -q index --model "$M" --split 3x4 "$IMG" -o tiles.gpkg
"$GEOLABEL" -q label --from-index tiles.gpkg --model "$M" --classes classes.txt --colors colors.csv -o rel.tif
for f in res.tif split.tif win.tif half.tif.out.tif multi.colorado_aerial.tif multi.half.tif rel.tif split.prob.tif; do
  gdalinfo -json "$f" > "$f.json"
done
gdalinfo -json "$IMG" > src.json
[ ! -e multi.tif ]
"$PY" - <<'PYEOF'
import csv, json
import numpy as np
import xml.etree.ElementTree as ET
from osgeo import gdal
classes = [l.strip() for l in open("classes.txt")]
colors = {"road": (255, 0, 0), "houses": (0, 255, 0), "trees": (0, 0, 255), "water": (0, 255, 255)}
src = json.load(open("src.json"))
W, H = src["size"]
def info(p): return json.load(open(p + ".json"))
def rows(p): return list(csv.DictReader(open(p, newline="")))
def probs(r):
    p = {k: float(v) for k, v in (x.rsplit(":", 1) for x in r["top3"].split(";"))}
    rest = [c for c in classes if c not in p]
    if len(rest) == 1: p[rest[0]] = 1 - sum(p.values())
    return np.array([p.get(c, 0.0) for c in classes])
def values(p): return gdal.Open(p).ReadAsArray()

# --- one pixel per tile: geotransform, COG, colour table, RAT, values
j = info("split.tif")
assert j["size"] == [4, 3], j["size"]
gt, sg = j["geoTransform"], src["geoTransform"]
want = [sg[0], sg[1] * W / 4, sg[2], sg[3], sg[4], sg[5] * H / 3]
assert all(abs(a - b) < 1e-6 for a, b in zip(gt, want)), (gt, want)
assert 'ID["EPSG",26913]' in j["coordinateSystem"]["wkt"]
st = j["metadata"]["IMAGE_STRUCTURE"]
assert st["LAYOUT"] == "COG" and st["COMPRESSION"] == "DEFLATE", st
b = j["bands"][0]
assert b["type"] == "Byte" and b["noDataValue"] == 0 and b["colorInterpretation"] == "Palette"
assert b["block"] == [256, 256] or b["block"][0] >= 4, b["block"]
ct = b["colorTable"]["entries"]
assert ct[0][3] == 0, ct[0]  # nodata transparent
for k, c in enumerate(classes):
    assert tuple(ct[k + 1][:3]) == colors[c] and ct[k + 1][3] == 255, (c, ct[k + 1])
rat = j["rat"]
names = [f["name"] for f in rat["fieldDefn"]]
assert names == ["value", "class", "red", "green", "blue"], names
assert [r["f"][:2] for r in rat["row"]] == [[k + 1, c] for k, c in enumerate(classes)], rat["row"]
assert [tuple(r["f"][2:]) for r in rat["row"]] == [colors[c] for c in classes]
v = values("split.tif")
csvr = rows("split.csv")
for r in csvr:
    assert v[int(r["row"]), int(r["col"])] == classes.index(r["classification"]) + 1, r
pb = values("split.prob.tif")
assert pb.shape == (4, 3, 4) and info("split.prob.tif")["bands"][0]["type"] == "Float32"
assert [x["description"] for x in info("split.prob.tif")["bands"]] == classes
for r in csvr:
    assert np.abs(pb[:, int(r["row"]), int(r["col"])] - probs(r)).max() < 2e-6, r
# from the index: the same raster
assert (values("rel.tif") == v).all()

# --- --raster-res: that pixel size; each pixel the label of the tile under its centre
import math
j = info("res.tif")
R = abs(sg[1]) * 8
px, py = 8.0, R / abs(sg[5])
assert abs(j["geoTransform"][1] - R) < 1e-9 and abs(abs(j["geoTransform"][5]) - R) < 1e-9, j["geoTransform"]
assert j["geoTransform"][0] == sg[0] and j["geoTransform"][3] == sg[3]
assert j["size"] == [math.ceil(W / px - 1e-9), math.ceil(H / py - 1e-9)], j["size"]
v = values("res.tif")
for y in range(v.shape[0]):
    for x in range(v.shape[1]):
        cx, cy = (x + 0.5) * px, (y + 0.5) * py
        under = [r for r in csvr if int(r["left"]) <= cx < int(r["right"]) and int(r["lower"]) <= cy < int(r["upper"])]
        if len(under) == 1:
            assert v[y, x] == classes.index(under[0]["classification"]) + 1, (x, y, under[0])

# --- overlapping windows: each pixel is the argmax of the covering tiles' summed probabilities
j = info("win.tif")
assert j["size"] == [5, 3], j["size"]
assert abs(j["geoTransform"][1] - sg[1] * 64) < 1e-9 and abs(j["geoTransform"][5] - sg[5] * 64) < 1e-9
v = values("win.tif")
pw = values("win.prob.tif")
wr = rows("win.csv")
checked = 0
for y in range(3):
    for x in range(5):
        cx, cy = (x + 0.5) * 64, (y + 0.5) * 64
        cover = [r for r in wr if int(r["left"]) <= cx < int(r["right"]) and int(r["lower"]) <= cy < int(r["upper"])]
        assert cover, (x, y)
        s = sum(probs(r) for r in cover)
        assert np.abs(pw[:, y, x] - s / len(cover)).max() < 2e-6
        top = np.sort(s)[::-1]
        if top[0] - top[1] > 1e-4:
            assert v[y, x] == int(np.argmax(s)) + 1, (x, y, v[y, x], s)
            checked += 1
assert checked > 5, checked

# --- nodata tiles are 0; several scenes give one file each
hr = rows("half.csv")
for name in ("half.tif.out.tif", "multi.half.tif"):
    v = values(name)
    for r in hr:
        want = 0 if r["classification"] == "nodata" else classes.index(r["classification"]) + 1
        assert v[int(r["row"]), int(r["col"])] == want, (name, r)
assert (values("half.tif.out.tif")[:, 2:] == 0).all() and (values("half.tif.out.tif")[:, :2] > 0).all()
assert info("multi.colorado_aerial.tif")["size"] == [4, 2]

# --- the vector output's QGIS style uses the same colours
q = ET.parse("split.qml").getroot().find("renderer-v2")
sym = {s.get("name"): s for s in q.find("symbols")}
for cat in q.find("categories"):
    c = cat.get("value")
    col = [p.get("v") for p in sym[cat.get("symbol")].iter("prop") if p.get("k") == "color"][0]
    if c in colors:
        assert tuple(int(x) for x in col.split(",")[:3]) == colors[c], (c, col)
print("raster ok")
PYEOF
echo ok
