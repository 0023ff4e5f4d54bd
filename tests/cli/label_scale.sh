#!/usr/bin/env bash
# A 20000x20000 GeoTIFF made here with GDAL tools (sparse, nodata 0, data burnt into its top-left
# 5000x5000 pixels), cut into 2500-px windows overlapping by 500: 10 x 10 windows read one at a
# time. Windows that miss the data square must read `nodata` without a model call; the others get
# a label. Bounds are checked against gdalinfo -json's geotransform. The 224-px cut (8100 tiles)
# and its peak RSS are measured in bench/bench_label.sh: too slow for the sanitizer test pass.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
gdal_create -q -outsize 20000 20000 -bands 3 -ot Byte -a_nodata 0 -co TILED=YES \
    -co COMPRESS=DEFLATE -co SPARSE_OK=TRUE -a_srs EPSG:32633 \
    -a_ullr 300000 5000000 400000 4900000 big.tif
cat > square.geojson <<'JSON'
{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:32633"}},
 "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates":
 [[[300000, 5000000], [325000, 5000000], [325000, 4975000], [300000, 4975000], [300000, 5000000]]]}}]}
JSON
gdal_rasterize -q -b 1 -b 2 -b 3 -burn 40 -burn 120 -burn 200 square.geojson big.tif
printf 'sea\ncity\nfields\n' > classes.txt
"$GEOLABEL" label --model "$M" --classes classes.txt --tile 2500 --overlap 500 --stretch none \
    big.tif -o big.csv 2> run.err
grep -q "100 tiles (91 nodata)" run.err
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
    has_data = x < 5000 and y < 5000
    assert (r["classification"] != "nodata") == has_data, (k, r["classification"])
    assert (r["score"] != "") == has_data
print("ok")
PYEOF
