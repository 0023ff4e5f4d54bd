#!/usr/bin/env bash
# review and the style of a multi-layer GPKG: `label --layer-per-crs` over scenes in two CRSs and a
# photo without geometry writes three tile tables (two per-CRS layers and labels_nogeo). The
# review page must show the rows of all three, as sqlite3 reads them from the file, and each of
# them must carry its default style in QGIS's layer_styles table (f_table_name and
# f_geometry_column as gpkg_geometry_columns has them, useAsDefault 1, a QML whose categories are
# the classes), which ogrinfo lists as a table.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
IMG=$GEOLABEL_SHARED/data/imagery
printf 'road\nhouses\ntrees\nwater\n' > classes.txt
"$GEOLABEL" -q label --model "$M" --classes classes.txt --split 2x2 --layer-per-crs \
  "$IMG/colorado_aerial.tif" "$IMG/RGB.byte.tif" "$IMG/ground_photo_no_geo.jpg" -o out.gpkg
"$GEOLABEL" -q review out.gpkg --image-root "$IMG" --classes classes.txt -o review.html
ogrinfo -ro -q out.gpkg > layers.txt
grep -q 'layer_styles' layers.txt
"$PY" - <<'PYEOF'
import json, sqlite3, xml.etree.ElementTree as ET
db = sqlite3.connect("out.gpkg")
tables = [r[0] for r in db.execute("SELECT table_name FROM gpkg_contents ORDER BY table_name")]
tiles = [t for t in tables
         if {"row", "col"} <= {c[1] for c in db.execute(f'PRAGMA table_info("{t}")')}]
assert len(tiles) == 3 and "labels_nogeo" in tiles, tables
want = set()
for t in tiles:
    for f, r, c, k in db.execute(f'SELECT filename, row, col, classification FROM "{t}"'):
        want.add((f.rsplit("/", 1)[-1], r, c, k))
assert len(want) == 12, want

html = open("review.html", encoding="utf-8").read()
a = html.index("const DATA=") + len("const DATA=")
data = json.loads(html[a:html.index(";</script>", a)].replace("<\\/", "</"))
names = [c["name"] for c in data["classes"]]
got = {(data["scenes"][t[0]]["name"], t[1], t[2], names[t[7]]) for t in data["tiles"]}
assert len(data["tiles"]) == 12 and got == want, (sorted(got), sorted(want))

geom = dict(db.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
styles = list(db.execute("SELECT f_table_catalog, f_table_schema, f_table_name, "
                         "f_geometry_column, useAsDefault, styleQML FROM layer_styles"))
assert sorted(s[2] for s in styles) == sorted(tiles), (styles, tiles)
classes = [l.strip() for l in open("classes.txt") if l.strip()]
for cat, schema, table, gcol, default, qml in styles:
    assert cat == "" and schema == "" and default == 1, (cat, schema, default)
    assert gcol == geom.get(table, ""), (table, gcol, geom)
    r = ET.fromstring(qml).find("renderer-v2")
    assert r.get("type") == "categorizedSymbol" and r.get("attr") == "classification"
    assert [c.get("value") for c in r.find("categories")] == classes + ["nodata"]
print("review rows:", len(got), "styles:", [(s[2], s[3]) for s in styles])
PYEOF
# the styles table is no tile layer: eval and a resumed run read past it
"$GEOLABEL" -q eval --pred out.gpkg --truth out.gpkg --json > eval.json
"$PY" -c 'import json; e = json.load(open("eval.json")); assert e["n_matched"] == 12 and e["accuracy"] == 1, e'
"$GEOLABEL" -q label --model "$M" --classes classes.txt --split 2x2 --layer-per-crs --resume \
  "$IMG/colorado_aerial.tif" "$IMG/RGB.byte.tif" "$IMG/ground_photo_no_geo.jpg" -o out.gpkg
"$PY" - <<'PYEOF'
import sqlite3
db = sqlite3.connect("out.gpkg")
n = db.execute("SELECT count(*) FROM layer_styles").fetchone()[0]
assert n == 3, n
PYEOF
# Shards of one --layer-per-crs run (these names split as {a.tif, c.jpg} and {b.tif}) hold
# different layers; the merged GPKG has a default style for every tile table of either shard.
cp "$IMG/colorado_aerial.tif" a.tif && cp "$IMG/RGB.byte.tif" b.tif
cp "$IMG/ground_photo_no_geo.jpg" c.jpg
for i in 0 1; do
  "$GEOLABEL" -q label --model "$M" --classes classes.txt --split 2x2 --layer-per-crs \
    --shard $i/2 a.tif b.tif c.jpg -o s$i.gpkg
done
"$GEOLABEL" -q merge m.gpkg s0.gpkg s1.gpkg
"$PY" - <<'PYEOF'
import sqlite3
styled = lambda p: sorted(r[0] for r in sqlite3.connect(p).execute("SELECT f_table_name FROM layer_styles"))
tiles = lambda p: sorted(r[0] for r in sqlite3.connect(p).execute(
    "SELECT table_name FROM gpkg_contents WHERE table_name != 'layer_styles'"))
assert styled("s0.gpkg") != styled("s1.gpkg"), "the shards should hold different layers"
assert len(tiles("m.gpkg")) == 3 and styled("m.gpkg") == tiles("m.gpkg"), (styled("m.gpkg"), tiles("m.gpkg"))
PYEOF
