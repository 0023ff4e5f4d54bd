#!/usr/bin/env bash
# label on a georeferenced GeoTIFF: GVL's CSV header and tile numbers (W//C x H//R, remainder
# covered or dropped; a scene under 224 px resized first in drop mode), tile bounds against
# gdalinfo -json and gdal_translate -srcwin, and the tile centres' lon/lat against gdaltransform
# reading the file itself.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
IMG=$GEOLABEL_SHARED/data/imagery/RGB.byte.tif
printf 'forest\nwater\nurban area\nfarmland\n' > classes.txt
"$GEOLABEL" label --model "$M" --classes classes.txt --split 3x3 "$IMG" -o cover.csv
"$GEOLABEL" label --model "$M" --classes classes.txt --split-height-by 3 --split-width-by 3 \
    --remainder drop "$IMG" -o drop.csv
gdalinfo -json "$IMG" > info.json
# A scene under 224 px: GVL resizes it to 224 x 224 before cutting, so --remainder drop reports
# pixels of the resized scene (geo bounds still land on the raster); cover keeps raster pixels.
gdal_translate -q -srcwin 300 200 200 150 "$IMG" small.tif
gdalinfo -json small.tif > small.json
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 --remainder drop small.tif \
    -o small_drop.csv
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 small.tif -o small_cover.csv
# Tile (row 1, col 2) of the cover cut: x 526..791, y 239..478 (791//3 = 263, 718//3 = 239).
gdal_translate -q -srcwin 526 239 265 239 "$IMG" tile12.tif
gdalinfo -json tile12.tif > tile12.json
$PY - "$IMG" <<'PYEOF'
import csv, json, subprocess, sys
img = sys.argv[1]
info = json.load(open("info.json"))
W, H = info["size"]
gt = info["geoTransform"]
GVL = ["filename", "row", "col", "left", "upper", "right", "lower", "classification_mode",
       "description", "classification_tree", "classification"]
EXTRA = ["score", "crs", "x_min", "y_min", "x_max", "y_max", "lon", "lat", "input", "llm_error",
         "top3"]
classes = {"forest", "water", "urban area", "farmland"}
centres = []
for name, drop in (("cover.csv", False), ("drop.csv", True)):
    rows = list(csv.reader(open(name, newline="")))
    assert rows[0] == GVL + EXTRA, rows[0]
    recs = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert len(recs) == 9, len(recs)
    cw, ch = W // 3, H // 3
    for k, r in enumerate(recs):
        i, j = divmod(k, 3)
        assert (int(r["row"]), int(r["col"])) == (i, j), (k, r["row"], r["col"])
        left, top = j * cw, i * ch
        right = W if (j == 2 and not drop) else left + cw
        bottom = H if (i == 2 and not drop) else top + ch
        # GVL's naming: lower is the top y, upper the bottom y.
        got = tuple(int(r[c]) for c in ("left", "lower", "right", "upper"))
        assert got == (left, top, right, bottom), (k, got, (left, top, right, bottom))
        assert r["filename"] == "RGB.byte.tif" and r["classification_mode"] == "flat"
        assert r["description"] == "" and r["classification"] in classes
        assert r["classification_tree"] == r["classification"]
        assert 0 < float(r["score"]) <= 1
        assert r["crs"] == "EPSG:32618", r["crs"]
        tol = 1e-6 * abs(gt[1])
        want = {"x_min": gt[0] + left * gt[1], "x_max": gt[0] + right * gt[1],
                "y_max": gt[3] + top * gt[5], "y_min": gt[3] + bottom * gt[5]}
        for c, v in want.items():
            assert abs(float(r[c]) - v) <= tol, (name, k, c, r[c], v)
        centres.append(((left + right) / 2, (top + bottom) / 2, float(r["lon"]), float(r["lat"])))
    if not drop:
        t = dict(zip(rows[0], rows[1 + 5]))
        tgt = json.load(open("tile12.json"))["geoTransform"]
        assert abs(float(t["x_min"]) - tgt[0]) <= 1e-6 * gt[1], (t["x_min"], tgt[0])
        assert abs(float(t["y_max"]) - tgt[3]) <= 1e-6 * gt[1], (t["y_max"], tgt[3])
# gdaltransform maps pixel/line of the file to lon/lat (OGC:CRS84 is lon, lat order).
inp = "".join("%r %r\n" % (c[0], c[1]) for c in centres)
out = subprocess.run(["gdaltransform", "-t_srs", "OGC:CRS84", "-output_xy", img], input=inp,
                     capture_output=True, text=True, check=True).stdout.split("\n")
for c, line in zip(centres, out):
    lon, lat = map(float, line.split()[:2])
    assert abs(lon - c[2]) < 1e-9 and abs(lat - c[3]) < 1e-9, (c, lon, lat)
sgt = json.load(open("small.json"))["geoTransform"]
for name, (W, H, scale_x, scale_y) in (("small_drop.csv", (224, 224, 200 / 224, 150 / 224)),
                                       ("small_cover.csv", (200, 150, 1, 1))):
    recs = list(csv.DictReader(open(name, newline="")))
    assert len(recs) == 4
    for k, r in enumerate(recs):
        i, j = divmod(k, 2)
        want = (j * (W // 2), i * (H // 2), (j + 1) * (W // 2), (i + 1) * (H // 2))
        got = tuple(int(r[c]) for c in ("left", "lower", "right", "upper"))
        assert got == want, (name, k, got, want)
        xmin = sgt[0] + want[0] * scale_x * sgt[1]
        ymax = sgt[3] + want[1] * scale_y * sgt[5]
        assert abs(float(r["x_min"]) - xmin) <= 1e-6 * sgt[1], (name, k, r["x_min"], xmin)
        assert abs(float(r["y_max"]) - ymax) <= 1e-6 * sgt[1], (name, k, r["y_max"], ymax)
print("ok")
PYEOF
