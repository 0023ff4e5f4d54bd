#!/usr/bin/env bash
# truth: GVL's SpaceNet v7 protocol on a georeferenced 90x60 scene split 3x3 (30x20 tiles), with
# masks made by GDAL tools (same grid; a coarser, offset grid) and GeoJSON footprints (lon/lat
# and native UTM). Expected positive tiles are computed here from the known pixel positions.
set -eu
gdal_create -q -of GTiff -outsize 90 60 -bands 3 -ot Byte -a_srs EPSG:32618 \
  -a_ullr 500000 4100000 500900 4099400 scene.tif
gdal_create -q -of GTiff -outsize 90 60 -bands 1 -ot Byte -a_srs EPSG:32618 \
  -a_ullr 500000 4100000 500900 4099400 mask.tif
# 20 m pixels offset by one pixel: mask pixel (col, row) covers x 499980+20c.., y 4100020-20r..
gdal_create -q -of GTiff -outsize 48 32 -bands 1 -ot UInt16 -a_srs EPSG:32618 \
  -a_ullr 499980 4100020 500940 4099380 coarse.tif
"$PY" - <<'PYEOF'
import json
from osgeo import gdal, osr
def put(path, pix):
    ds = gdal.Open(path, gdal.GA_Update)
    b = ds.GetRasterBand(1)
    a = b.ReadAsArray()
    for c, r in pix: a[r, c] = 7
    b.WriteArray(a); ds = None
# same grid: one pixel inside tile (0,1); the scene's last pixel; the first pixel of tile (1,0)
put("mask.tif", [(45, 5), (89, 59), (0, 20)])
# coarse: col 15 covers x 500280..500300 (scene cols 28..30: tile col 0 only, touching col 1's
# edge); row 12 covers y 4099780..4099760 (scene rows 22..24: tile row 1)
put("coarse.tif", [(15, 12)])
# footprints as scene pixel rectangles (c0, r0, c1, r1)
rects = [(35, 2, 50, 10), (55, 42, 65, 50)]
utm = osr.SpatialReference(); utm.ImportFromEPSG(32618)
wgs = osr.SpatialReference(); wgs.ImportFromEPSG(4326)
for s in (utm, wgs): s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(utm, wgs)
def ring(r, f):
    c0, r0, c1, r1 = r
    pts = [(c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0)]
    return [list(f(500000 + 10 * c, 4100000 - 10 * rr)) for c, rr in pts]
ll = lambda x, y: ct.TransformPoint(x, y)[:2]
json.dump({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring(r, ll)]}}
    for r in rects]}, open("fp.geojson", "w"))
# native CRS: a polygon whose left edge lies exactly on the tile border x = col 60
json.dump({"type": "FeatureCollection",
           "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32618"}},
           "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
               "coordinates": [ring((60, 25, 70, 30), lambda x, y: (x, y))]}}]},
          open("touch.geojson", "w"))
PYEOF
"$GEOLABEL" truth --mask mask.tif --split 3x3 scene.tif -o same.csv
"$GEOLABEL" truth --mask coarse.tif --split 3x3 scene.tif -o coarse.csv --positive yes --negative no
"$GEOLABEL" truth --mask fp.geojson --split-height-by 3 --split-width-by 3 scene.tif -o fp.csv
"$GEOLABEL" truth --mask touch.geojson --split 3x3 scene.tif -o touch.csv
"$GEOLABEL" truth --mask mask.tif --tile 40 scene.tif -o win.csv
"$GEOLABEL" truth --mask mask.tif --split 4x4 --remainder drop scene.tif -o drop.csv
"$PY" - <<'PYEOF'
import csv
W, H = 90, 60
def tiles(rows=3, cols=3, drop=False):
    for r in range(rows):
        for c in range(cols):
            x, y = c * (W // cols), r * (H // rows)
            w = W - x if c == cols - 1 and not drop else W // cols
            h = H - y if r == rows - 1 and not drop else H // rows
            yield r, c, x, y, w, h
def expect(rects, pos="Buildings", neg="No Buildings", grid=None):
    out = {}
    for r, c, x, y, w, h in (grid or tiles()):
        hit = any(a < x + w and b > x and cc < y + h and d > y for a, cc, b, d in rects)
        out[(r, c)] = (pos if hit else neg, (x, y + h, x + w, y))
    return out
def check(path, exp):
    rows = list(csv.DictReader(open(path, newline="")))
    assert len(rows) == len(exp), (path, len(rows))
    for row in rows:
        key = (int(row["row"]), int(row["col"]))
        label, (left, upper, right, lower) = exp[key]
        assert row["classification"] == label, (path, key, row["classification"], label)
        assert row["filename"] == "scene.tif" and row["classification_tree"] == label
        # GVL: lower is the top y, upper the bottom y
        assert (int(row["left"]), int(row["upper"]), int(row["right"]), int(row["lower"])) == (left, upper, right, lower), (path, row)
    return sum(v[0] in ("Buildings", "yes") for v in exp.values())
px = lambda c, r: (c, r, c + 1, r + 1)  # a pixel as (x0, y0, x1, y1)
n = check("same.csv", expect([px(45, 5), px(89, 59), px(0, 20)]))
assert n == 3
# coarse pixel (15, 12) in scene pixels: x (499980 + 300 - 500000)/10 = 28..30, y (4100000 - 4099780)/10 = 22..24
assert check("coarse.csv", expect([(28, 22, 30, 24)], "yes", "no")) == 1
assert check("fp.csv", expect([(35, 2, 50, 10), (55, 42, 65, 50)])) == 3
assert check("touch.csv", expect([(60, 25, 70, 30)])) == 1
# windows of 40 px: columns at 0, 40, 80 (the last clipped), rows at 0, 40
grid = [(r, c, 40 * c, 40 * r, min(40, W - 40 * c), min(40, H - 40 * r)) for r in range(2) for c in range(3)]
check("win.csv", expect([px(45, 5), px(89, 59), px(0, 20)], grid=grid))
# Geo columns from the scene's -a_ullr (10 m pixels) and osr's UTM 18N -> WGS 84, not our code.
from osgeo import osr
utm = osr.SpatialReference(); utm.ImportFromEPSG(32618)
wgs = osr.SpatialReference(); wgs.ImportFromEPSG(4326)
for s in (utm, wgs): s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(utm, wgs)
for row in csv.DictReader(open("same.csv", newline="")):
    l, u, r_, lo = (int(row[k]) for k in ("left", "upper", "right", "lower"))
    exp = (500000 + 10 * l, 4100000 - 10 * u, 500000 + 10 * r_, 4100000 - 10 * lo)
    got = tuple(float(row[k]) for k in ("x_min", "y_min", "x_max", "y_max"))
    assert row["crs"] == "EPSG:32618" and all(abs(a - b) < 1e-6 for a, b in zip(got, exp)), (got, exp)
    lon, lat = ct.TransformPoint((exp[0] + exp[2]) / 2, (exp[1] + exp[3]) / 2)[:2]
    assert abs(float(row["lon"]) - lon) < 1e-9 and abs(float(row["lat"]) - lat) < 1e-9, row
# GVL's cut drops the remainder: 22x15 tiles end at x 88, y 60, so pixel (89, 59) is in no tile
assert check("drop.csv", expect([px(45, 5), px(89, 59), px(0, 20)], grid=list(tiles(4, 4, True)))) == 2
print("truth ok")
PYEOF
# A CRS without an EPSG code: the crs column holds its WKT (what label writes), which OSR reads as
# the scene's CRS (gdalsrsinfo), not an empty field.
CUSTOM="+proj=tmerc +lat_0=10 +lon_0=-74.5 +k=0.9995 +x_0=200000 +y_0=100000 +ellps=GRS80 +units=m +no_defs"
gdal_translate -q -a_srs "$CUSTOM" scene.tif cscene.tif
gdal_translate -q -a_srs "$CUSTOM" mask.tif cmask.tif
gdalsrsinfo -o wkt cscene.tif > cscene.srs
"$GEOLABEL" truth --mask cmask.tif --split 3x3 cscene.tif -o custom.csv
"$PY" - <<'PYEOF'
import csv
from osgeo import osr
want = osr.SpatialReference(); want.SetFromUserInput(open("cscene.srs").read().strip())
assert want.GetAuthorityCode(None) is None, "the test CRS must have no code"
rows = list(csv.DictReader(open("custom.csv", newline="")))
ref = {(r["row"], r["col"]): r for r in csv.DictReader(open("same.csv", newline=""))}
assert len(rows) == 9
for r in rows:
    got = osr.SpatialReference()
    assert r["crs"] and got.SetFromUserInput(r["crs"]) == 0, r["crs"][:80]
    assert got.IsSame(want, ["IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES"]) == 1, r["crs"][:80]
    assert "\n" not in r["crs"] and r["crs"].startswith("PROJCRS["), r["crs"][:80]
    s = ref[(r["row"], r["col"])]
    for k in ("classification", "x_min", "y_min", "x_max", "y_max"):
        assert r[k] == s[k], (k, r[k], s[k])
PYEOF
# The header is the label CSV's.
head -n 1 same.csv | grep -qx 'filename,row,col,left,upper,right,lower,classification_mode,description,classification_tree,classification,score,crs,x_min,y_min,x_max,y_max,lon,lat'
# A non-georeferenced mask of another size cannot cover the scene: one clear line, non-zero exit.
gdal_create -q -of GTiff -outsize 10 10 -bands 1 small.tif
if "$GEOLABEL" truth --mask small.tif scene.tif -o bad.csv 2> err.txt; then exit 1; fi
grep -q "small.tif" err.txt
[ ! -e bad.csv ]
if "$GEOLABEL" truth --mask nothing.tif scene.tif -o bad.csv 2> err.txt; then exit 1; fi
grep -q "nothing.tif: no such file" err.txt
# Truth tiles line up with `label`'s (same tiling code): every tile matches in eval.
if "$GEOLABEL" label --help > /dev/null 2>&1; then
  printf 'Buildings\nNo Buildings\n' > classes.txt
  "$GEOLABEL" label --model "$GEOLABEL_SHARED/fixtures/clip-tiny-b32" --classes classes.txt \
    --split 3x3 scene.tif -o pred.csv 2> /dev/null
  "$GEOLABEL" eval --pred pred.csv --truth same.csv --json > eval.json
  "$PY" -c 'import json; j = json.load(open("eval.json")); assert j["n_matched"] == 9 == j["n_truth"], j'
  # and the georeferenced columns read the same in both files
  "$PY" - <<'PYEOF'
import csv
cols = ("left", "upper", "right", "lower", "crs", "x_min", "y_min", "x_max", "y_max", "lon", "lat")
key = lambda r: (r["row"], r["col"])
t = {key(r): [r[c] for c in cols] for r in csv.DictReader(open("same.csv", newline=""))}
p = {key(r): [r[c] for c in cols] for r in csv.DictReader(open("pred.csv", newline=""))}
assert t == p, (t, p)
PYEOF
fi
