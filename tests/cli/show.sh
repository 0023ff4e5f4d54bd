#!/usr/bin/env bash
# show, checked with GDAL: a real PNG of the expected size (scene plus a 300-pixel legend), tile
# pixels equal to the class colour (matplotlib tab10, in legend order) blended over the scene
# with alpha (--stretch none keeps the scene's values), legend order grouped by meta-class,
# downsampled reads of a larger scene, and GVL's collage.
set -eu
gdal_create -q -of GTiff -outsize 120 80 -bands 3 -burn 200 -burn 100 -burn 50 scene.tif
gdal_create -q -of GTiff -outsize 2000 1000 -bands 3 -ot UInt16 -burn 1000 -burn 3000 -burn 5000 big.tif
"$PY" - <<'PYEOF'
import csv
head = "filename,row,col,left,upper,right,lower,classification_mode,description,classification_tree,classification".split(",")
def write(path, name, rows, W, H, r_n=2, c_n=2):
    w = csv.writer(open(path, "w", newline="")); w.writerow(head)
    tw, th = W // c_n, H // r_n
    for (r, c), (tree, label) in rows.items():
        # GVL: lower = top y, upper = bottom y
        w.writerow([name, r, c, c * tw, (r + 1) * th, (c + 1) * tw, r * th, "flat", "", tree, label])
    w.writerow(["other.tif", 0, 0, 0, 10, 10, 0, "flat", "", "z", "z"])  # another image: ignored
write("flat.csv", "scene.tif", {(0, 0): ("b", "b"), (0, 1): ("a", "a"), (1, 0): ("c", "c"), (1, 1): ("b", "b")}, 120, 80)
# grouped: meta-class Y sorts before Z, so leaf 'b' (under Y) comes first in the legend
write("tree.csv", "/elsewhere/scene.tif", {(0, 0): ("Z;a", "a"), (0, 1): ("Y;b", "b"), (1, 0): ("Z;a", "a"), (1, 1): ("Z;c", "c")}, 120, 80)
write("big.csv", "big.tif", {(0, 0): ("a", "a"), (0, 1): ("b", "b"), (1, 0): ("a", "a"), (1, 1): ("b", "b")}, 2000, 1000)
PYEOF
# --colors gives a, b and c matplotlib's first three tab10 colours.
printf 'class,color\na,#1f77b4\nb,#ff7f0e\nc,#2ca02c\n' > colors.csv
"$GEOLABEL" show --labels flat.csv --image scene.tif -o flat.png --stretch none --colors colors.csv
"$GEOLABEL" show --labels tree.csv --image scene.tif -o tree.png --alpha 0.5 --stretch none --colors colors.csv
"$GEOLABEL" show --labels big.csv --image big.tif -o big.png --max-side 500 --stretch none --colors colors.csv
"$GEOLABEL" show --labels flat.csv --image scene.tif -o collage.png --collage --stretch none --colors colors.csv
# Without --colors a class keeps its colour from picture to picture ('a' is the legend's first
# entry in flat.csv and its second in tree.csv), and distinct classes differ.
"$GEOLABEL" show --labels flat.csv --image scene.tif -o flat_own.png --alpha 0.5 --stretch none
"$GEOLABEL" show --labels tree.csv --image scene.tif -o tree_own.png --alpha 0.5 --stretch none
# Stripes 2 pixels black, 2 pixels 200 wide, drawn at a quarter size: box averaging gives 100
# where a nearest-pixel pick would give 0 or 200. One tile covers the left half only.
gdal_create -q -of GTiff -outsize 400 200 -bands 3 stripes.tif
"$PY" -c '
import numpy as np
from osgeo import gdal
ds = gdal.Open("stripes.tif", gdal.GA_Update)
a = np.where((np.arange(400) % 4) < 2, 0, 200).astype(np.uint8)[None, :].repeat(200, 0)
for b in (1, 2, 3): ds.GetRasterBand(b).WriteArray(a)
ds = None
open("stripes.csv", "w").write("filename,row,col,left,upper,right,lower,classification\nstripes.tif,0,0,0,200,200,0,a\n")'
"$GEOLABEL" show --labels stripes.csv --image stripes.tif -o stripes.png --max-side 100 --stretch none --colors colors.csv
"$PY" - <<'PYEOF'
import json, subprocess
from osgeo import gdal
tab10 = [(0x1f, 0x77, 0xb4), (0xff, 0x7f, 0x0e), (0x2c, 0xa0, 0x2c)]
def info(path):
    j = json.loads(subprocess.check_output(["gdalinfo", "-json", path]))
    assert j["driverShortName"] == "PNG", j["driverShortName"]
    return j["size"]
def pixel(path, x, y):
    ds = gdal.Open(path)
    return tuple(int(ds.GetRasterBand(b).ReadAsArray(x, y, 1, 1)[0, 0]) for b in (1, 2, 3))
def blend(colour, scene, a):
    return tuple(a * c + (1 - a) * s for c, s in zip(colour, scene))
def near(got, exp, what):
    assert all(abs(g - e) <= 2 for g, e in zip(got, exp)), f"{what}: {got} != {exp}"
scene = (200, 100, 50)
# The scene at full size plus the 300-pixel legend panel on the right.
w, h = info("flat.png"); assert w == 120 + 300 and h >= 80, (w, h)
# legend order a, b, c -> tab10[0], [1], [2]; points away from the borders and centred labels
near(pixel("flat.png", 6, 6), blend(tab10[1], scene, 0.35), "tile (0,0) b")
near(pixel("flat.png", 66, 6), blend(tab10[0], scene, 0.35), "tile (0,1) a")
near(pixel("flat.png", 6, 46), blend(tab10[2], scene, 0.35), "tile (1,0) c")
near(pixel("flat.png", 114, 74), blend(tab10[1], scene, 0.35), "tile (1,1) b")
# grouped legend: Y;b, then Z;a, Z;c; colours by name
near(pixel("tree.png", 66, 6), blend(tab10[1], scene, 0.5), "Y;b")
near(pixel("tree.png", 6, 6), blend(tab10[0], scene, 0.5), "Z;a")
near(pixel("tree.png", 114, 74), blend(tab10[2], scene, 0.5), "Z;c")
# 2000x1000 drawn at 500x250; --stretch none keeps 16-bit values clipped to 255
w, h = info("big.png"); assert (w, h) == (500 + 300, 250), (w, h)
near(pixel("big.png", 10, 10), blend(tab10[0], (255, 255, 255), 0.35), "big (0,0) a")
near(pixel("big.png", 490, 240), blend(tab10[1], (255, 255, 255), 0.35), "big (1,1) b")
# GVL's collage: 2x2 cells of 256 with 5-pixel red separators, then the legend
w, h = info("collage.png"); assert (w, h) == (2 * 256 + 5 + 300, 2 * 256 + 5), (w, h)
near(pixel("collage.png", 258, 100), (255, 0, 0), "separator")
near(pixel("collage.png", 200, 200), scene, "tile content")
w, h = info("stripes.png"); assert (w, h) == (100 + 300, max(50, h)), (w, h)
near(pixel("stripes.png", 75, 25), (100, 100, 100), "box-averaged stripes")
near(pixel("stripes.png", 10, 10), blend(tab10[0], (100, 100, 100), 0.35), "stripes under tile a")
# stable colours: 'a' at (0,1) of flat.csv and (0,0)/(1,0) of tree.csv; 'b' at (0,0) and (0,1)
assert pixel("flat_own.png", 66, 6) == pixel("tree_own.png", 6, 6) == pixel("tree_own.png", 6, 46)
assert pixel("flat_own.png", 6, 6) == pixel("tree_own.png", 66, 6)
assert pixel("flat_own.png", 66, 6) != pixel("flat_own.png", 6, 6) != pixel("flat_own.png", 6, 46)
print("show ok")
PYEOF
if "$GEOLABEL" show --labels flat.csv --image missing.tif -o x.png 2> err.txt; then exit 1; fi
grep -q "missing.tif" err.txt
printf 'filename,row\n' > bad.csv
if "$GEOLABEL" show --labels bad.csv --image scene.tif -o x.png 2> err.txt; then exit 1; fi
grep -q "bad.csv: no 'col' column" err.txt
[ ! -e x.png ]
