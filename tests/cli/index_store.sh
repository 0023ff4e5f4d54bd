#!/usr/bin/env bash
# Embed once, label many: `geolabel index` over the shared imagery (and a half-nodata scene) with
# the tiny fixture model; the store read back with Python's sqlite3 (format, metadata, BLOB sizes,
# unit float16 vectors) and OGR (a GeoPackage whose polygons agree with the CSV's lon/lat corners);
# `label --from-index` equal to a direct `label` (identical labels unless the direct top-2 gap is
# within float16 rounding, scores within 2e-3; exactly equal from an f32 index) for flat classes,
# a YAML hierarchy and a template ensemble, to CSV, GeoJSON (with its .qml) and GPKG; label
# --save-embeddings gives a plain run's CSV and `index`'s store; a different model refused; an
# unfinished index refused.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
OTHER=$GEOLABEL_SHARED/fixtures/clip-tiny-l14-336
IMG=$GEOLABEL_SHARED/data/imagery
"$PY" "$(dirname "$0")/half_nodata.py"
INPUTS="$IMG/colorado_aerial.tif $IMG/RGB.byte.tif $IMG/airport.jpg half.tif"
printf 'road\nhouses\ntrees\nwater\n' > classes.txt
printf 'a satellite photo of {}.\nan aerial view of {}.\n' > templates.txt
cat > tree.yaml <<'EOF'
Built:
  - road
  - houses
Natural:
  - trees
  - water
EOF
# shellcheck disable=SC2086
"$GEOLABEL" -q index --model "$M" --split 3x4 $INPUTS -o tiles.gpkg
# shellcheck disable=SC2086
"$GEOLABEL" -q index --model "$M" --split 3x4 --embedding-dtype f32 $INPUTS -o tiles32.gpkg
[ ! -e tiles.part.gpkg ]
"$PY" - "$M" <<'PYEOF'
import json, sqlite3, sys, numpy as np
db = sqlite3.connect("tiles.gpkg")
meta = dict(db.execute("SELECT key, value FROM geolabel_meta"))
cfg = json.load(open(sys.argv[1] + "/config.json"))
dim = cfg["projection_dim"]
assert meta["format"] == "geolabel-index" and meta["format_version"] == "1", meta
assert meta["dtype"] == "f16" and int(meta["dim"]) == dim and meta["views"] == "1", meta
assert meta["tiling"] == "split 3x4 cover" and meta["stretch"] == "minmax", meta
assert len(meta["model_hash"]) == 32 and meta["model"].endswith("clip-tiny-b32"), meta
for k in ("preprocessing", "version", "created", "image_size"):
    assert meta[k], k
# a GeoPackage: the gpkg_contents lists the tiles layer
assert ("tiles", "features") in list(db.execute("SELECT table_name, data_type FROM gpkg_contents"))
rows = db.execute("SELECT fid, input, tile, nodata, embedding, length(embedding) FROM tiles ORDER BY fid").fetchall()
assert len(rows) == 4 * 12, len(rows)
nodata = [r for r in rows if r[3]]
assert len(nodata) == 6 and all(r[1] == "half.tif" and r[4] is None for r in nodata), nodata
for fid, inp, tile, nd, blob, n in rows:
    if nd: continue
    assert n == 2 * dim, n
    v = np.frombuffer(blob, "<f2").astype(np.float64)
    assert abs(np.linalg.norm(v) - 1) < 2e-3, (fid, np.linalg.norm(v))
inputs = db.execute("SELECT input, tiles, complete FROM geolabel_inputs ORDER BY id").fetchall()
assert [i[1:] for i in inputs] == [(12, 1)] * 4, inputs
db32 = sqlite3.connect("tiles32.gpkg")
assert dict(db32.execute("SELECT key, value FROM geolabel_meta"))["dtype"] == "f32"
for (a,), (b,) in zip(db.execute("SELECT embedding FROM tiles WHERE nodata = 0 ORDER BY fid"),
                      db32.execute("SELECT embedding FROM tiles WHERE nodata = 0 ORDER BY fid")):
    x = np.frombuffer(a, "<f2").astype(np.float32); y = np.frombuffer(b, "<f4")
    assert np.abs(x - y).max() < 1e-3 and abs(np.linalg.norm(y) - 1) < 1e-5
print("store ok:", len(rows), "tiles")
PYEOF
ogrinfo -ro -so tiles.gpkg tiles | grep -q 'ID\["EPSG",4326\]'

# Direct runs and relabelled runs, every mode and format.
for kind in flat hier tmpl; do
  case $kind in
    flat) CL="--classes classes.txt" ;;
    hier) CL="--classes tree.yaml" ;;
    tmpl) CL="--classes classes.txt --templates templates.txt" ;;
  esac
  # shellcheck disable=SC2086
  "$GEOLABEL" -q label --model "$M" $CL --split 3x4 $INPUTS -o "direct_$kind.csv"
  # shellcheck disable=SC2086
  "$GEOLABEL" -q label --from-index tiles.gpkg --model "$M" $CL -o "rel_$kind.csv"
  # shellcheck disable=SC2086
  "$GEOLABEL" -q label --from-index tiles32.gpkg --model "$M" $CL -o "rel32_$kind.csv"
done
# label --save-embeddings: the same labels as a plain run, and the same store as `index`.
# shellcheck disable=SC2086
"$GEOLABEL" -q label --model "$M" --classes classes.txt --split 3x4 $INPUTS \
  --save-embeddings saved.gpkg -o saved.csv
cmp saved.csv direct_flat.csv
"$PY" - <<'PYEOF'
import sqlite3
def store(p):
    db = sqlite3.connect(p)
    meta = {k: v for k, v in db.execute("SELECT key, value FROM geolabel_meta") if k != "created"}
    tiles = db.execute("SELECT input, tile, row, col, nodata, corners, embedding FROM tiles ORDER BY fid").fetchall()
    inputs = db.execute("SELECT input, width, height, geotransform, tiles, complete FROM geolabel_inputs ORDER BY id").fetchall()
    return meta, tiles, inputs
a, b = store("tiles.gpkg"), store("saved.gpkg")
assert a[0] == b[0], set(a[0].items()) ^ set(b[0].items())
assert a[1] == b[1] and a[2] == b[2], "label --save-embeddings stored other tiles than index"
print("--save-embeddings: the index's store,", len(b[1]), "tiles")
PYEOF
# It refuses what it cannot keep: --resume (build the index with index --resume instead).
# shellcheck disable=SC2086
if "$GEOLABEL" -q label --model "$M" --classes classes.txt --split 3x4 $INPUTS --resume \
  --save-embeddings saved2.gpkg -o saved2.csv 2> err.txt; then
  echo "--resume with --save-embeddings was accepted"; exit 1
fi
grep -q "saved2.gpkg: --resume with --save-embeddings is not supported" err.txt
# shellcheck disable=SC2086
"$GEOLABEL" -q label --from-index tiles.gpkg --model "$M" --classes classes.txt -o rel.geojson
"$GEOLABEL" -q label --from-index tiles.gpkg --model "$M" --classes classes.txt -o rel.gpkg
[ -s rel.qml ]
"$PY" - <<'PYEOF'
import csv, json
import xml.etree.ElementTree as ET
from osgeo import ogr
def rows(p): return list(csv.DictReader(open(p, newline="")))
def probs(r):
    return {k: float(v) for k, v in (x.rsplit(":", 1) for x in r["top3"].split(";"))} if r["top3"] else {}
for kind in ("flat", "hier", "tmpl"):
    d, f16, f32 = rows("direct_%s.csv" % kind), rows("rel_%s.csv" % kind), rows("rel32_%s.csv" % kind)
    assert len(d) == len(f16) == len(f32) == 48, (kind, len(d), len(f16))
    changed = 0
    for a, b, c in zip(d, f16, f32):
        for k in a:
            if k in ("score", "top3", "classification", "classification_tree"): continue
            assert a[k] == b[k] == c[k], (kind, k, a[k], b[k], c[k])
        assert a["classification"] == c["classification"] and a["classification_tree"] == c["classification_tree"], (kind, a, c)
        if a["score"] == "":
            assert b["score"] == c["score"] == "" and a["classification"] == b["classification"] == "nodata"
            continue
        assert abs(float(a["score"]) - float(c["score"])) <= 2e-6, (kind, a["score"], c["score"])
        assert abs(float(a["score"]) - float(b["score"])) <= 2e-3, (kind, a["score"], b["score"])
        if a["classification"] != b["classification"]:
            # only where the direct run's two best leaves are within f16 rounding of each other
            p = sorted(probs(a).values(), reverse=True)
            assert kind != "hier" and p[0] - p[1] < 2e-3, (kind, a, b)
            changed += 1
    print(kind, "equal; labels changed by f16 rounding:", changed)
# the relabelled output's manifest: the index's model, tiling and source
m = json.load(open("rel_flat.csv.manifest.json"))
db = __import__("sqlite3").connect("tiles.gpkg")
meta = dict(db.execute("SELECT key, value FROM geolabel_meta"))
assert m["model_hash"] == meta["model_hash"] and m["tiling"] == "split 3x4 cover", m
assert m["from_index"] == "tiles.gpkg" and m["classes"] == "road;houses;trees;water", m
# GeoJSON and GPKG carry the same rows as the CSV
g = json.load(open("rel.geojson"))
c = rows("rel_flat.csv")
assert [f["properties"]["classification"] for f in g["features"]] == [r["classification"] for r in c]
# (the GPKG keeps airport.jpg, which has no georeferencing, in its table labels_nogeo)
ds = ogr.Open("rel.gpkg")
layers = [ds.GetLayer(i) for i in range(ds.GetLayerCount())
          if ds.GetLayer(i).GetName() != "layer_styles"]  # QGIS's styles table, no tiles
assert sorted(l.GetName() for l in layers) == ["labels", "labels_nogeo"], [l.GetName() for l in layers]
feats = {(f.GetField("input"), f.GetField("row"), f.GetField("col")): f.GetField("classification")
         for l in layers for f in l}
assert feats == {(r["input"], int(r["row"]), int(r["col"])): r["classification"] for r in c}
assert len(feats) == 48
# the QGIS style: every class once, categorised on 'classification'
q = ET.parse("rel.qml").getroot()
r = q.find("renderer-v2")
assert r.get("type") == "categorizedSymbol" and r.get("attr") == "classification"
cats = [x.get("value") for x in r.find("categories")]
assert cats == ["road", "houses", "trees", "water", "nodata"], cats
# the store's polygons (EPSG:4326) sit on the tiles: they hold the CSV's tile centre, and their
# vertices include the tile's corners where gdaltransform puts the CSV's x/y bounds
import subprocess
ds = ogr.Open("tiles.gpkg"); lyr = ds.GetLayerByName("tiles")
d = rows("direct_flat.csv")
for f, r in zip(lyr, d):
    g = f.GetGeometryRef()
    if r["lon"] == "":
        assert g is None, r["filename"]
        continue
    centre = ogr.Geometry(ogr.wkbPoint)
    centre.AddPoint_2D(float(r["lon"]), float(r["lat"]))
    assert g.Contains(centre), (r, g.ExportToWkt()[:200])
    x0, y0, x1, y1 = (r[k] for k in ("x_min", "y_min", "x_max", "y_max"))
    out = subprocess.run(["gdaltransform", "-s_srs", r["crs"], "-t_srs", "OGC:CRS84", "-output_xy"],
                         input=f"{x0} {y1}\n{x1} {y1}\n{x1} {y0}\n{x0} {y0}\n", capture_output=True,
                         text=True, check=True).stdout.split()
    ring = g.GetGeometryRef(0)
    pts = [ring.GetPoint_2D(i) for i in range(ring.GetPointCount())]
    for i in range(0, 8, 2):
        w = float(out[i]), float(out[i + 1])
        assert any(abs(p[0] - w[0]) < 1e-7 and abs(p[1] - w[1]) < 1e-7 for p in pts), (w, r)
print("formats ok")
PYEOF

# A different model is refused, naming both.
if "$GEOLABEL" label --from-index tiles.gpkg --model "$OTHER" --classes classes.txt -o bad.csv 2> err.txt; then
  echo "a different model was accepted"; exit 1
fi
grep -q "tiles.gpkg: the index was made with model" err.txt
[ ! -e bad.csv ]
if "$GEOLABEL" search --index tiles.gpkg --model "$OTHER" --text road -o bad.csv 2> err.txt; then
  echo "search accepted a different model"; exit 1
fi
grep -q "not this one" err.txt
# Not an index / not finished.
cp tiles.gpkg tiles.part.gpkg
if "$GEOLABEL" label --from-index tiles.part.gpkg --model "$M" --classes classes.txt -o bad.csv 2> err.txt; then
  exit 1
fi
grep -q "unfinished index" err.txt
if "$GEOLABEL" label --from-index rel.gpkg --model "$M" --classes classes.txt -o bad.csv 2> err.txt; then
  exit 1
fi
grep -q "rel.gpkg: not a geolabel index" err.txt
head -c 3000 tiles.gpkg > torn.gpkg
if "$GEOLABEL" label --from-index torn.gpkg --model "$M" --classes classes.txt -o bad.csv 2> err.txt; then
  exit 1
fi
grep -q "torn.gpkg" err.txt
echo ok
