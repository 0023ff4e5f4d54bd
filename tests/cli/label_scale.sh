#!/usr/bin/env bash
# A 20000x20000 GeoTIFF made here with gdal_create, cut into 2500-px windows overlapping by 500
# (10 x 10 windows read one at a time). The 224-px cut (8100 tiles) and its peak RSS are measured
# in bench/bench_label.sh instead: too slow for the sanitizer test pass. Bounds are checked against
# gdalinfo -json's geotransform.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
gdal_create -q -outsize 20000 20000 -bands 3 -ot Byte -burn 40 -burn 120 -burn 200 \
    -co TILED=YES -co COMPRESS=DEFLATE -a_srs EPSG:32633 \
    -a_ullr 300000 5000000 400000 4900000 big.tif
printf 'sea\ncity\nfields\n' > classes.txt
"$GEOLABEL" label --model "$M" --classes classes.txt --tile 2500 --overlap 500 --stretch none \
    big.tif -o big.csv
gdalinfo -json big.tif > info.json
$PY <<'PYEOF'
import csv, json
gt = json.load(open("info.json"))["geoTransform"]
rows = list(csv.DictReader(open("big.csv", newline="")))
assert len(rows) == 100, len(rows)
for k, r in enumerate(rows):
    i, j = divmod(k, 10)
    x, y = 2000 * j, 2000 * i
    w, h = min(2500, 20000 - x), min(2500, 20000 - y)
    got = tuple(int(r[c]) for c in ("row", "col", "left", "lower", "right", "upper"))
    assert got == (i, j, x, y, x + w, y + h), (k, got)
    assert abs(float(r["x_min"]) - (gt[0] + x * gt[1])) < 1e-6 * gt[1]
    assert abs(float(r["y_min"]) - (gt[3] + (y + h) * gt[5])) < 1e-6 * gt[1]
    assert r["crs"] == "EPSG:32633"
assert len({r["classification"] for r in rows}) == 1, "a uniform scene gets one label"
print("ok")
PYEOF
