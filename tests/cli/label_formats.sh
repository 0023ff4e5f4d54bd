#!/usr/bin/env bash
# label to GeoJSON and GPKG: the GeoJSON is RFC 7946 (no crs member, lon/lat coordinates agreeing
# with the CSV's tile corners through gdaltransform, counter-clockwise exterior rings by a shoelace
# sum) and opens in ogrinfo; the GPKG opens in ogrinfo and keeps the raster's CRS (EPSG:26913).
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
IMG=$GEOLABEL_SHARED/data/imagery/colorado_aerial.tif
printf 'road\nhouses\ntrees\n' > classes.txt
for ext in csv geojson gpkg; do
  "$GEOLABEL" label --model "$M" --classes classes.txt --split 2x3 "$IMG" -o "out.$ext"
done
ogrinfo -ro -al -so out.geojson > geojson.txt
grep -q "Feature Count: 6" geojson.txt
ogrinfo -ro -so out.gpkg labels > gpkg.txt
grep -q "Feature Count: 6" gpkg.txt
grep -q 'ID\["EPSG",26913\]' gpkg.txt
$PY - "$IMG" <<'PYEOF'
import csv, json, subprocess, sys
from osgeo import ogr
img = sys.argv[1]
g = json.load(open("out.geojson"))
assert g["type"] == "FeatureCollection" and "crs" not in g, list(g)
rows = list(csv.DictReader(open("out.csv", newline="")))
feats = g["features"]
assert len(feats) == len(rows) == 6
corners = []
for f, r in zip(feats, rows):
    p = f["properties"]
    for k in ("filename", "row", "col", "left", "upper", "right", "lower", "classification"):
        assert str(p[k]) == r[k], (k, p[k], r[k])
    assert abs(p["score"] - float(r["score"])) < 1e-6
    rings = f["geometry"]["coordinates"]
    assert f["geometry"]["type"] == "Polygon" and len(rings) == 1
    ring = rings[0]
    assert ring[0] == ring[-1] and len(ring) == 4 * 8 + 1  # 8 points per edge, as in a GPKG
    area = sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:]))
    assert area > 0, "exterior ring is clockwise"
    for lon, lat in ring:
        assert -106 < lon < -104 and 38 < lat < 40, (lon, lat)
    L, T, R, B = (int(r[k]) for k in ("left", "lower", "right", "upper"))
    corners.append(((L, T), (R, B), ring))
# Each ring holds the tile's top-left and bottom-right corners as gdaltransform places them
# (RFC 7946 writers round to 7 decimals).
inp = "".join("%d %d\n%d %d\n" % (c[0][0], c[0][1], c[1][0], c[1][1]) for c in corners)
out = subprocess.run(["gdaltransform", "-t_srs", "OGC:CRS84", "-output_xy", img], input=inp,
                     capture_output=True, text=True, check=True).stdout.split()
pts = [(float(out[i]), float(out[i + 1])) for i in range(0, len(out), 2)]
for k, c in enumerate(corners):
    for want in pts[2 * k: 2 * k + 2]:
        assert any(abs(p[0] - want[0]) < 2e-7 and abs(p[1] - want[1]) < 2e-7 for p in c[2]), (k, want, c[2])
ds = ogr.Open("out.gpkg")
lyr = ds.GetLayer(0)
srs = lyr.GetSpatialRef()
assert srs.GetAuthorityName(None) == "EPSG" and srs.GetAuthorityCode(None) == "26913"
f0 = lyr.GetNextFeature()
env = f0.GetGeometryRef().GetEnvelope()  # (minx, maxx, miny, maxy) in the raster's CRS
r0 = rows[0]
for got, key in zip(env, ("x_min", "x_max", "y_min", "y_max")):
    assert abs(got - float(r0[key])) < 1e-6, (key, got, r0[key])
print("ok")
PYEOF
