#!/usr/bin/env bash
# label on awkward inputs: 6-band Landsat with --bands, a uint16 COG cut by windows, a drone RGBA
# whose wholly transparent tiles (found here with GDAL's Python bindings) must read `nodata`, and a
# directory with corrupt files among good ones: reported, skipped, exit 3, good rows kept, no rows
# of a file that failed half way.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'sea\ncity\nfields\n' > classes.txt
run() { "$GEOLABEL" label --model "$M" --classes classes.txt "$@"; }

run --bands 4,3,2 --split 2x2 "$D/L7_ETMs.tif" -o l7.csv
if run --bands 4,3,9 "$D/L7_ETMs.tif" -o bad.csv 2> bad.err; then exit 1; fi
grep -q "L7_ETMs.tif" bad.err
[ ! -e bad.csv ] # every input failed: no output written
run --tile 512 --stretch percentile:2,98 "$D/uint16_cog.tif" -o u16.csv
run --tile 64 "$D/drone_rgba_nodata.tif" -o drone.csv

mkdir scenes
cp "$D/colorado_aerial.tif" "$D/world.rgb.tif" scenes/
head -c 3000 "$D/RGB.byte.tif" > scenes/truncated.tif
echo "not an image" > scenes/notes.tif
# A COG cut in half opens (its directory is at the start) and fails part way: its rows so far
# must be dropped from the output. --batch 1 writes them one by one before the failure.
size=$(stat -c %s "$D/uint16_cog.tif")
head -c $((size / 2)) "$D/uint16_cog.tif" > scenes/half_cog.tif
set +e
run --tile 256 --batch 1 --stretch none scenes -o dir.csv 2> dir.err
rc=$?
set -e
[ "$rc" -eq 3 ] || { echo "exit $rc, want 3"; cat dir.err; exit 1; }
grep -q "truncated.tif" dir.err
grep -q "notes.tif" dir.err
grep -q "half_cog.tif" dir.err
grep -q "3 failed" dir.err

$PY - "$D/drone_rgba_nodata.tif" <<'PYEOF'
import csv, sys
from osgeo import gdal
def rows(name):
    return list(csv.DictReader(open(name, newline="")))
l7 = rows("l7.csv")
assert len(l7) == 4 and {r["filename"] for r in l7} == {"L7_ETMs.tif"}
assert all(r["crs"] == "EPSG:31985" for r in l7), l7[0]["crs"]
u16 = rows("u16.csv")
# 2658 x 2667 by 512: 6 x 6 windows, the last column 98 wide, the last row 107 high.
assert len(u16) == 36, len(u16)
last = u16[-1]
assert (last["row"], last["col"], last["left"], last["right"], last["lower"], last["upper"]) == \
    ("5", "5", "2560", "2658", "2560", "2667"), last
# The drone: a tile is nodata exactly when its alpha is 0 everywhere.
ds = gdal.Open(sys.argv[1])
alpha = ds.GetRasterBand(4).ReadAsArray()
drone = rows("drone.csv")
W, H = ds.RasterXSize, ds.RasterYSize
assert len(drone) == ((W + 63) // 64) * ((H + 63) // 64), len(drone)
n_nodata = 0
for r in drone:
    L, T, R, B = (int(r[k]) for k in ("left", "lower", "right", "upper"))
    empty = not alpha[T:B, L:R].any()
    got = r["classification"] == "nodata"
    assert empty == got, (r["row"], r["col"], empty, r["classification"])
    if got:
        n_nodata += 1
        assert r["score"] == "" and r["classification_tree"] == "nodata"
assert 0 < n_nodata < len(drone), n_nodata
d = rows("dir.csv")
assert sorted({r["filename"] for r in d}) == ["colorado_aerial.tif", "world.rgb.tif"]
assert len(d) == 4, len(d)  # 383x232 and 512x256 by 256: 2 windows each
w = [r for r in d if r["filename"] == "world.rgb.tif"]
assert all(r["crs"] == "EPSG:4326" for r in w), w[0]["crs"]
print("ok")
PYEOF
