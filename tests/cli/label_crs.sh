#!/usr/bin/env bash
# label's output CRS, every case against GDAL's own tools (gdaltransform, gdalsrsinfo, ogr2ogr,
# and OSR's IsSame through Python's osgeo), never against our own output: a GPKG from inputs in
# one CRS keeps it, also a CRS without an EPSG code (gdal_translate -a_srs "+proj=..."); mixed
# CRSs go to EPSG:4326 with tile corners where gdaltransform puts the pixel corners, or with
# --layer-per-crs to one layer per CRS; --crs EPSG:3857 (and a WKT file) against gdaltransform and
# ogr2ogr, also for the index store; inputs without georeferencing go to a table without
# geometry, never to an undefined CRS; a GeoJSON of the whole world stays inside
# [-180,180]x[-90,90]; tiles outside --crs's area keep their rows; shards of a custom-CRS run
# merge into that CRS (also when a shard got no input); --resume moves old rows into the CRS of
# a now mixed run.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'road\nhouses\ntrees\n' > classes.txt
run() { "$GEOLABEL" label --model "$M" --classes classes.txt "$@"; }
cp "$D/RGB.byte.tif" utm18.tif                                  # EPSG:32618
gdal_translate -q -srcwin 100 100 300 250 "$D/RGB.byte.tif" utm18b.tif
cp "$D/colorado_aerial.tif" utm13.tif                           # EPSG:26913
cp "$D/L7_ETMs.tif" sirgas.tif                                  # EPSG:31985
cp "$D/world.rgb.tif" world.tif                                 # EPSG:4326, -180..180
cp "$D/ground_photo_no_geo.jpg" photo.jpg                       # no georeferencing
CUSTOM="+proj=tmerc +lat_0=10 +lon_0=-74.5 +k=0.9995 +x_0=200000 +y_0=100000 +ellps=GRS80 +units=m +no_defs"
gdal_translate -q -a_srs "$CUSTOM" -srcwin 0 0 400 300 "$D/RGB.byte.tif" custom_a.tif
gdal_translate -q -a_srs "$CUSTOM" -srcwin 300 300 400 300 "$D/RGB.byte.tif" custom_b.tif
gdalsrsinfo -o wkt custom_a.tif > custom.wkt
for f in utm18 utm13 sirgas custom_a; do gdalsrsinfo -o wkt $f.tif > $f.srs; done

# One CRS: kept (an EPSG code, and a CRS without one).
run --split 2x2 utm18.tif utm18b.tif -o same.gpkg
for ext in gpkg csv geojson; do run --split 2x2 custom_a.tif custom_b.tif -o custom.$ext; done
# Mixed CRSs: EPSG:4326, or a layer per CRS (non-georeferenced rows: labels_nogeo).
run --split 2x2 utm18.tif utm13.tif sirgas.tif -o mixed.gpkg 2> mixed.err
run --split 2x2 --layer-per-crs utm18.tif utm13.tif sirgas.tif custom_a.tif photo.jpg \
    -o per.gpkg 2> per.err
# --crs: EPSG:3857 into GPKG and CSV; a WKT file.
run --split 2x2 --crs EPSG:3857 utm18.tif utm13.tif -o m.gpkg 2> m.err
run --split 2x2 --crs EPSG:3857 utm18.tif utm13.tif -o m.csv
run --split 2x2 --crs custom.wkt utm18.tif -o fromfile.gpkg
ogr2ogr -t_srs EPSG:3857 ref3857.gpkg per.gpkg labels_epsg_32618 labels_epsg_26913
"$GEOLABEL" -q index --model "$M" --split 2x2 --crs EPSG:3857 utm18.tif utm13.tif -o idx.gpkg
# Not georeferenced, first: a table without geometry, the georeferenced rows in their CRS.
run --split 2x2 photo.jpg utm18.tif -o ng.gpkg
run --split 2x2 photo.jpg utm18.tif -o ng.geojson
# The whole world as GeoJSON, also from a grid whose pixel edges overhang the poles and the
# antimeridian by half a pixel (as a grid registered at pixel centres does); the same in a mixed
# GPKG; the world under --crs EPSG:32618, which UTM 18N cannot hold.
gdal_translate -q -a_ullr -180.3515625 90.3515625 180.3515625 -90.3515625 world.tif overhang.tif
run --split 3x3 world.tif overhang.tif -o world.geojson 2> world.err
run --split 3x3 overhang.tif utm18.tif -o overhang.gpkg 2> overhang.err
run --split 3x3 --crs EPSG:32618 world.tif utm18.tif -o far.gpkg 2> far.err
# Shards of a custom-CRS run (split by tile: both shards hold rows of both inputs), merged.
for i in 0 1; do
  run --split 3x3 --shard $i/2 --shard-by tile custom_a.tif custom_b.tif -o s$i.gpkg
done
"$GEOLABEL" -q merge --sort s.gpkg s0.gpkg s1.gpkg
# One input over two shards: the shard left without inputs must not decide the merged CRS.
for i in 0 1; do run --split 2x2 --shard $i/2 custom_a.tif -o e$i.gpkg; done
"$GEOLABEL" -q merge e.gpkg e0.gpkg e1.gpkg
# --resume: one scene in UTM 18N, then a second in UTM 13N: the layer becomes EPSG:4326.
run --split 2x2 utm18.tif -o r.gpkg
run --split 2x2 --resume utm18.tif utm13.tif -o r.gpkg 2> r.err
grep -q "1 labelled, 1 already complete" r.err

# Refused before any work, with one line naming the output: GeoJSON in another CRS, a CRS GDAL
# does not know, --layer-per-crs outside a GPKG, both together, and --crs for a .tif.
refuse() {
  local want=$1; shift
  if run --split 2x2 utm18.tif "$@" 2> refused.err; then echo "accepted: $*"; exit 1; fi
  grep -q "$want" refused.err || { cat refused.err; exit 1; }
  [ "$(wc -l < refused.err)" -le 2 ]
}
refuse "GeoJSON is always EPSG:4326" --crs EPSG:3857 -o bad.geojson
refuse "not a CRS GDAL knows" --crs EPSG:99999999 -o bad.gpkg
refuse "needs a .gpkg" --layer-per-crs -o bad.csv
refuse "do not go together" --layer-per-crs --crs EPSG:4326 -o bad.gpkg
refuse "each scene's own CRS" --crs EPSG:3857 -o bad.tif
ls bad.* 2> /dev/null && { echo "a refused run left output"; exit 1; }
run --split 2x2 --crs EPSG:4326 utm18.tif -o ok4326.geojson # the one CRS GeoJSON has

$PY - <<'PYEOF'
import csv, json, re, sqlite3, subprocess
from osgeo import gdal, ogr, osr
gdal.UseExceptions()

def srs_of_file(path):
    s = osr.SpatialReference()
    assert s.SetFromUserInput(open(path).read().strip()) == 0, path
    return s

def srs(text):
    s = osr.SpatialReference()
    assert s.SetFromUserInput(text) == 0, text[:80]
    return s

def same(a, b):  # the same CRS; how Python and the file order axes is another matter
    return a is not None and b is not None and \
        a.IsSame(b, ["IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES"]) == 1

def layers(path):  # the tile layers (QGIS's layer_styles table holds their styles)
    ds = ogr.Open(path)
    return ds, {ds.GetLayer(i).GetName(): ds.GetLayer(i) for i in range(ds.GetLayerCount())
                if ds.GetLayer(i).GetName() != "layer_styles"}

def gt_of(img):
    return gdal.Open(img).GetGeoTransform()

def transform(img, pixels, t_srs):
    """gdaltransform: pixel/line of img -> t_srs (lon/lat order for OGC:CRS84)."""
    inp = "".join("%r %r\n" % p for p in pixels)
    out = subprocess.run(["gdaltransform", "-t_srs", t_srs, "-output_xy", img], input=inp,
                         capture_output=True, text=True, check=True).stdout.split()
    return [(float(out[i]), float(out[i + 1])) for i in range(0, len(out), 2)]

def pixel_corners(f):
    L, T, R, B = (f.GetField(k) for k in ("left", "lower", "right", "upper"))
    return [(L, T), (R, T), (R, B), (L, B)]

def vertices(g):
    ring = g.GetGeometryRef(0)
    return [ring.GetPoint_2D(i) for i in range(ring.GetPointCount())]

def corners_match(lyr, t_srs, tol, where):
    n = 0
    for f in lyr:
        want = transform(f.GetField("input"), pixel_corners(f), t_srs)
        got = vertices(f.GetGeometryRef())
        for w in want:
            assert any(abs(p[0] - w[0]) <= tol and abs(p[1] - w[1]) <= tol for p in got), \
                (where, f.GetField("input"), f.GetField("row"), f.GetField("col"), w, got[:4])
        n += 1
    lyr.ResetReading()
    return n

wgs84 = srs("EPSG:4326")

# 1. One CRS, an EPSG code: the layer's CRS is the input's (gdalsrsinfo).
ds, L = layers("same.gpkg")
assert list(L) == ["labels"], list(L)
assert same(L["labels"].GetSpatialRef(), srs_of_file("utm18.srs"))
assert L["labels"].GetFeatureCount() == 8
# 1b. One CRS without an EPSG code: an equivalent CRS, in GPKG and in the CSV's crs column.
custom = srs_of_file("custom_a.srs")
assert custom.GetAuthorityCode(None) is None, "the test CRS must have no code"
ds, L = layers("custom.gpkg")
assert list(L) == ["labels"], list(L)
assert same(L["labels"].GetSpatialRef(), custom), L["labels"].GetSpatialRef()
gt = gt_of("custom_a.tif")
for f in L["labels"]:
    if f.GetField("input") == "custom_a.tif" and (f.GetField("row"), f.GetField("col")) == (0, 0):
        env = f.GetGeometryRef().GetEnvelope()
        want = (gt[0], gt[0] + 200 * gt[1], gt[3] + 150 * gt[5], gt[3])
        assert all(abs(a - b) < 1e-6 for a, b in zip(env, want)), (env, want)
rows = list(csv.DictReader(open("custom.csv", newline="")))
assert len(rows) == 8 and all(same(srs(r["crs"]), custom) for r in rows), rows[0]["crs"][:80]
g = json.load(open("custom.geojson"))
for feat in g["features"]:
    p = feat["properties"]
    want = transform(p["input"], [(p["left"], p["lower"]), (p["right"], p["upper"])], "OGC:CRS84")
    ring = feat["geometry"]["coordinates"][0]
    for w in want:
        assert any(abs(q[0] - w[0]) < 2e-7 and abs(q[1] - w[1]) < 2e-7 for q in ring), (w, ring)
# 1c. GeoJSON tiles are densified as GPKG's are: 8 points per edge, every one where gdaltransform
# puts that pixel point (not the 4 corners joined by straight lon/lat lines).
for feat in g["features"]:
    p = feat["properties"]
    c = [(p["left"], p["lower"]), (p["right"], p["lower"]), (p["right"], p["upper"]),
         (p["left"], p["upper"])]
    px = [(a[0] + s / 8 * (b[0] - a[0]), a[1] + s / 8 * (b[1] - a[1]))
          for a, b in zip(c, c[1:] + c[:1]) for s in range(8)]
    ring = feat["geometry"]["coordinates"][0]
    assert len(ring) == 33 and ring[0] == ring[-1], len(ring)
    for w in transform(p["input"], px, "OGC:CRS84"):
        assert sum(abs(q[0] - w[0]) < 2e-7 and abs(q[1] - w[1]) < 2e-7 for q in ring[:-1]) == 1, (w, ring)

# 2. Mixed CRSs: one layer in EPSG:4326; tile corners where gdaltransform puts them (1e-6 deg);
# the crs and bound columns stay in each input's own CRS.
ds, L = layers("mixed.gpkg")
assert list(L) == ["labels"], list(L)
assert same(L["labels"].GetSpatialRef(), wgs84), L["labels"].GetSpatialRef()
assert corners_match(L["labels"], "OGC:CRS84", 1e-6, "mixed") == 12
codes = {"utm18.tif": "EPSG:32618", "utm13.tif": "EPSG:26913", "sirgas.tif": "EPSG:31985"}
for f in L["labels"]:
    inp = f.GetField("input")
    assert f.GetField("crs") == codes[inp], (inp, f.GetField("crs"))
    gt = gt_of(inp)
    assert abs(f.GetField("x_min") - (gt[0] + f.GetField("left") * gt[1])) < 1e-6
    assert abs(f.GetField("y_max") - (gt[3] + f.GetField("lower") * gt[5])) < 1e-6
err = open("mixed.err").read()
assert "Invalid latitude" not in err and "ERROR" not in err, err

# 3. --layer-per-crs: one layer per CRS, each the input's CRS; the photo in labels_nogeo.
ds, L = layers("per.gpkg")
names = set(L)
hashed = [n for n in names if re.fullmatch(r"labels_crs_[0-9a-f]{8}", n)]
assert names == {"labels_epsg_32618", "labels_epsg_26913", "labels_epsg_31985",
                 "labels_nogeo"} | set(hashed) and len(hashed) == 1, names
for name, f in (("labels_epsg_32618", "utm18"), ("labels_epsg_26913", "utm13"),
                ("labels_epsg_31985", "sirgas"), (hashed[0], "custom_a")):
    assert same(L[name].GetSpatialRef(), srs_of_file(f + ".srs")), name
    assert L[name].GetFeatureCount() == 4, (name, L[name].GetFeatureCount())
    assert all(x.GetField("input") == f + ".tif" for x in L[name])
ng = L["labels_nogeo"]
assert ng.GetGeomType() == ogr.wkbNone and ng.GetFeatureCount() == 4
assert {x.GetField("input") for x in ng} == {"photo.jpg"}

# 4. --crs EPSG:3857: the layer in EPSG:3857, corners where gdaltransform and ogr2ogr put them;
# the CSV's crs column says EPSG:3857 and its bounds hold the tile's curved edges.
merc = srs("EPSG:3857")
ds, L = layers("m.gpkg")
assert list(L) == ["labels"] and same(L["labels"].GetSpatialRef(), merc)
assert corners_match(L["labels"], "EPSG:3857", 1e-3, "3857") == 8
ours = {(f.GetField("input"), f.GetField("row"), f.GetField("col")): vertices(f.GetGeometryRef())
        for f in L["labels"]}
rds, R = layers("ref3857.gpkg")
seen = 0
for lyr in R.values():
    assert same(lyr.GetSpatialRef(), merc)
    for f in lyr:
        got = ours[(f.GetField("input"), f.GetField("row"), f.GetField("col"))]
        for w in vertices(f.GetGeometryRef()):
            assert any(abs(p[0] - w[0]) < 1e-3 and abs(p[1] - w[1]) < 1e-3 for p in got), w
        seen += 1
assert seen == 8
for r in csv.DictReader(open("m.csv", newline="")):
    assert r["crs"] == "EPSG:3857", r["crs"]
    L_, T, R_, B = (int(r[k]) for k in ("left", "lower", "right", "upper"))
    n = 64  # the true extent of the curved edges, through gdaltransform
    edge = [(L_ + (R_ - L_) * i / n, T) for i in range(n)] + \
           [(R_, T + (B - T) * i / n) for i in range(n)] + \
           [(R_ - (R_ - L_) * i / n, B) for i in range(n)] + \
           [(L_, B - (B - T) * i / n) for i in range(n)]
    pts = transform(r["input"], edge, "EPSG:3857")
    want = (min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts),
            max(p[1] for p in pts))
    got = tuple(float(r[k]) for k in ("x_min", "y_min", "x_max", "y_max"))
    assert all(abs(a - b) < 0.5 for a, b in zip(got, want)), (got, want)
ds, L = layers("idx.gpkg")  # the index store's tile polygons go the same way
assert same(L["tiles"].GetSpatialRef(), merc)
assert corners_match(L["tiles"], "EPSG:3857", 1e-3, "index") == 8
ds, L = layers("fromfile.gpkg")
assert same(L["labels"].GetSpatialRef(), custom)
ok = json.load(open("ok4326.geojson"))
assert len(ok["features"]) == 4 and all(f["properties"]["crs"] == "EPSG:4326" for f in ok["features"])

# 5. Not georeferenced: a table without geometry; no layer in an undefined CRS.
ds, L = layers("ng.gpkg")
assert set(L) == {"labels", "labels_nogeo"}, set(L)
assert same(L["labels"].GetSpatialRef(), srs_of_file("utm18.srs"))
assert L["labels"].GetFeatureCount() == 4 and L["labels_nogeo"].GetFeatureCount() == 4
assert L["labels_nogeo"].GetGeomType() == ogr.wkbNone
db = sqlite3.connect("ng.gpkg")
kinds = dict(db.execute("select table_name, data_type from gpkg_contents"))
assert kinds == {"labels": "features", "labels_nogeo": "attributes",
                 "layer_styles": "attributes"}, kinds
srs_ids = [r[0] for r in db.execute("select srs_id from gpkg_geometry_columns")]
assert srs_ids == [32618], srs_ids
used = [r[0] for r in db.execute("select srs_name from gpkg_spatial_ref_sys s join "
                                 "gpkg_contents c on c.srs_id = s.srs_id "
                                 "where c.data_type = 'features'")]
assert not any("Undefined" in u for u in used), used
g = json.load(open("ng.geojson"))
geo = {f["properties"]["input"]: f["geometry"] is not None for f in g["features"]}
assert geo == {"photo.jpg": False, "utm18.tif": True}, geo

# 6. The whole world as GeoJSON: no error; every ring inside the RFC 7946 bounds; corners where
# gdaltransform puts them, but latitudes past a pole, which stop at it; tiles across the
# antimeridian cut in two (GDAL's RFC 7946 writer). The overhanging grid in a GPKG: every tile
# placed, no PROJ complaint.
err = open("world.err").read()
assert "outside" not in err and "ERROR" not in err, err
w = json.load(open("world.geojson"))
assert len(w["features"]) == 18
cut = 0
for feat in w["features"]:
    p = feat["properties"]
    geom = feat["geometry"]
    polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
    cut += geom["type"] == "MultiPolygon"
    pts = [q for poly in polys for ring in poly for q in ring]
    for lon, lat in pts:
        assert -180 <= lon <= 180 and -90 <= lat <= 90, (lon, lat)
    corners = [(p["left"], p["lower"]), (p["right"], p["lower"]), (p["right"], p["upper"]),
               (p["left"], p["upper"])]
    for lon, lat in transform(p["input"], corners, "OGC:CRS84"):
        lat = max(-90, min(90, lat))
        lon = lon - 360 if lon > 180 else lon + 360 if lon < -180 else lon
        assert any(abs(q[0] - lon) < 2e-7 and abs(q[1] - lat) < 2e-7 for q in pts) or \
            abs(abs(lon) - 180) < 1 and any(abs(abs(q[0]) - 180) < 1e-9 and abs(q[1] - lat) < 2e-7
                                            for q in pts), (p["input"], lon, lat, pts)
assert cut == 6, cut  # the overhanging grid's first and last columns
err = open("overhang.err").read()
assert "Invalid latitude" not in err and "ERROR" not in err and "outside" not in err, err
ds, L = layers("overhang.gpkg")
assert list(L) == ["labels"] and same(L["labels"].GetSpatialRef(), wgs84)
assert L["labels"].GetFeatureCount() == 18
assert all(f.GetGeometryRef() is not None for f in L["labels"])

# 7. --crs EPSG:32618 with the whole world: every row kept; tiles UTM 18N cannot hold have no
# geometry, the others' corners are gdaltransform's; PROJ's complaints stay off stderr.
err = open("far.err").read()
assert "Invalid latitude" not in err and "ERROR" not in err, err
assert "outside what the output CRS can hold" in err, err
ds, L = layers("far.gpkg")
lyr = L["labels"]
assert same(lyr.GetSpatialRef(), srs_of_file("utm18.srs")) and lyr.GetFeatureCount() == 18
said = int(re.search(r"(\d+) tiles lie outside", err).group(1))
with_geom = 0
for f in lyr:
    if f.GetGeometryRef() is None:
        assert f.GetField("input") == "world.tif" and f.GetField("x_min") is None
        continue
    with_geom += 1
    want = transform(f.GetField("input"), pixel_corners(f), "EPSG:32618")
    got = vertices(f.GetGeometryRef())
    for x in want:
        assert any(abs(p[0] - x[0]) < 1e-3 and abs(p[1] - x[1]) < 1e-3 for p in got), x
assert with_geom == 18 - said and 9 <= with_geom < 18, (with_geom, said)

# 8. Shards of a custom-CRS run merge into that CRS.
ds, L = layers("s.gpkg")
assert list(L) == ["labels"] and same(L["labels"].GetSpatialRef(), custom)
assert L["labels"].GetFeatureCount() == 18
ds, L = layers("e.gpkg")
assert list(L) == ["labels"] and same(L["labels"].GetSpatialRef(), custom)
assert L["labels"].GetFeatureCount() == 4

# 9. --resume into a now mixed run: EPSG:4326, the kept rows moved there too.
ds, L = layers("r.gpkg")
assert list(L) == ["labels"] and same(L["labels"].GetSpatialRef(), wgs84)
assert corners_match(L["labels"], "OGC:CRS84", 1e-6, "resume") == 8
print("ok")
PYEOF
