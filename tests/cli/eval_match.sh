#!/usr/bin/env bash
# eval against label's and truth's own outputs: one default split for both (every tile matches),
# mismatched grids refused naming both, a partial truth an error unless --allow-partial, the
# label limit, --truth-column, and label's GeoJSON and GPKG read like its CSV by eval and show.
# Expected metrics come from Python's csv, json and sqlite3 reading the same files.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
gdal_create -q -of GTiff -outsize 90 60 -bands 3 -ot Byte -a_srs EPSG:32618 \
  -a_ullr 500000 4100000 500900 4099400 scene.tif
gdal_create -q -of GTiff -outsize 90 60 -bands 1 -ot Byte -a_srs EPSG:32618 \
  -a_ullr 500000 4100000 500900 4099400 mask.tif
"$PY" - <<'PYEOF'
import numpy as np
from osgeo import gdal
ds = gdal.Open("scene.tif", gdal.GA_Update)
rng = np.random.default_rng(3)
for b in range(3):
    ds.GetRasterBand(b + 1).WriteArray(rng.integers(0, 256, (60, 90)).astype(np.uint8))
ds = None
m = gdal.Open("mask.tif", gdal.GA_Update)
a = np.zeros((60, 90), np.uint8); a[5, 45] = 1; a[40, 10] = 1
m.GetRasterBand(1).WriteArray(a); m = None
PYEOF
gdal_translate -q scene.tif other.tif
printf 'Buildings\nNo Buildings\n' > classes.txt
fail() { echo "FAIL: $*"; exit 1; }

# 1. No --split anywhere: label and truth cut the same tiles, and eval matches every one.
"$GEOLABEL" label --model "$M" --classes classes.txt scene.tif other.tif -o d.csv 2> /dev/null
"$GEOLABEL" truth --mask mask.tif scene.tif other.tif -o dt.csv > /dev/null
"$GEOLABEL" eval --pred d.csv --truth dt.csv --json > d.json || fail "default splits do not match"
"$PY" - <<'PYEOF'
import csv, json
t = list(csv.DictReader(open("dt.csv", newline="")))
p = list(csv.DictReader(open("d.csv", newline="")))
j = json.load(open("d.json"))
assert len(t) == len(p) == 2, (len(t), len(p))
assert j["n_truth"] == j["n_matched"] == 2 and j["n_truth_unmatched"] == 0, j
PYEOF

# 2. A 3x3 prediction against a 2x2 truth: refused, naming both grids (it used to "match").
"$GEOLABEL" label --model "$M" --classes classes.txt --split 3x3 scene.tif -o p33.csv 2> /dev/null
"$GEOLABEL" truth --mask mask.tif --split 2x2 scene.tif -o t22.csv > /dev/null
if "$GEOLABEL" eval --pred p33.csv --truth t22.csv > out.txt 2> err.txt; then fail "3x3 vs 2x2 accepted"; fi
grep -qF "p33.csv cuts scene.tif into 3x3 tiles but t22.csv into 2x2" err.txt || { cat err.txt; fail "grid message"; }
[ "$(wc -l < err.txt)" -eq 1 ] || { cat err.txt; fail "one line"; }

# 3. Truth for two scenes, predictions for one: a partial match is an error after the report,
#    unless --allow-partial; the metrics cover the matched tiles (computed here with csv).
"$GEOLABEL" truth --mask mask.tif --split 3x3 scene.tif other.tif -o t33.csv > /dev/null
if "$GEOLABEL" eval --pred p33.csv --truth t33.csv --json > part.json 2> err.txt; then fail "partial accepted"; fi
grep -qF "9 of 18 truth tiles in t33.csv have no prediction" err.txt || { cat err.txt; fail "partial message"; }
"$GEOLABEL" eval --pred p33.csv --truth t33.csv --json --allow-partial > part.json
"$PY" - <<'PYEOF'
import csv, json, os
key = lambda r: (os.path.basename(r["filename"]), r["row"], r["col"])
t = {key(r): r["classification"] for r in csv.DictReader(open("t33.csv", newline=""))}
p = {key(r): r["classification"] for r in csv.DictReader(open("p33.csv", newline=""))}
common = set(t) & set(p)
j = json.load(open("part.json"))
assert j["n_matched"] == len(common) == 9 and j["n_truth_unmatched"] == 9, j
acc = sum(t[k] == p[k] for k in common) / len(common)
assert abs(j["accuracy"] - acc) < 1e-12, (j["accuracy"], acc)
PYEOF

# 4. Two 400 KB CSVs with 10,000 labels each: refused at the limit, in bounded memory.
"$PY" - <<'PYEOF'
import csv
for name, off in (("many_p.csv", 0), ("many_t.csv", 5000)):
    w = csv.writer(open(name, "w", newline=""))
    w.writerow(["filename", "row", "col", "classification"])
    for i in range(10000):
        w.writerow(["s.tif", i // 100, i % 100, "label number %06d" % ((i + off) % 20000)])
PYEOF
"$PY" - "$GEOLABEL" <<'PYEOF'
import resource, subprocess, sys
r = subprocess.run([sys.argv[1], "eval", "--pred", "many_p.csv", "--truth", "many_t.csv"],
                   capture_output=True, text=True, timeout=120)
rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
assert r.returncode != 0, r
assert "many_p.csv: more than 4096 distinct labels" in r.stderr and "--max-labels" in r.stderr, r.stderr
assert rss_mb < 400, f"{rss_mb:.0f} MB"
print(f"label limit: refused in {rss_mb:.0f} MB")
PYEOF
# --max-labels raises the limit: 300 labels each side, 450 in all, allowed with 450.
head -n 301 many_p.csv > few_p.csv
"$PY" -c '
import csv
w = csv.writer(open("few_t.csv", "w", newline=""))
for r in list(csv.reader(open("many_p.csv", newline="")))[:301]:
    w.writerow(r if r[0] == "filename" else r[:3] + ["label number %06d" % (int(r[3][-6:]) + 150)])'
if "$GEOLABEL" eval --pred few_p.csv --truth few_t.csv --max-labels 449 > /dev/null 2> err.txt; then fail "limit 449"; fi
grep -qF "more than 449 distinct labels" err.txt || { cat err.txt; fail "limit message"; }
"$GEOLABEL" eval --pred few_p.csv --truth few_t.csv --max-labels 450 --json > few.json
"$PY" -c '
import json; j = json.load(open("few.json"))
assert j["n_matched"] == 300 and j["accuracy"] == 0 and len(j["classes"]) == 450, (j["n_matched"], len(j["classes"]))'

# 5. --truth-column: a hand-made truth whose labels sit in another column.
"$PY" - <<'PYEOF'
import csv
rows = list(csv.DictReader(open("t33.csv", newline="")))
w = csv.writer(open("manual.csv", "w", newline=""))
w.writerow(["filename", "row", "col", "manual"])
for r in rows:
    if r["filename"] == "scene.tif":
        w.writerow([r["filename"], r["row"], r["col"], r["classification"]])
PYEOF
"$GEOLABEL" eval --pred p33.csv --truth manual.csv --truth-column manual --json > manual.json
"$PY" -c '
import json; a, b = json.load(open("manual.json")), json.load(open("part.json"))
assert a["n_matched"] == 9 and a["confusion"] == b["confusion"], (a, b)'

# 6. label's GeoJSON and GPKG, read by eval and show like its CSV; references from json/sqlite3.
"$GEOLABEL" label --model "$M" --classes classes.txt --split 3x3 scene.tif -o p33.geojson 2> /dev/null
"$GEOLABEL" label --model "$M" --classes classes.txt --split 3x3 scene.tif -o p33.gpkg 2> /dev/null
"$GEOLABEL" truth --mask mask.tif --split 3x3 scene.tif -o t9.csv > /dev/null
for f in p33.csv p33.geojson p33.gpkg; do
  "$GEOLABEL" eval --pred "$f" --truth t9.csv --json > "$f.json" || fail "eval $f"
done
# the truth may be a vector file too
"$GEOLABEL" eval --pred t9.csv --truth p33.gpkg --json > swapped.json
"$PY" - <<'PYEOF'
import csv, json, sqlite3, os
t = {(r["filename"], int(r["row"]), int(r["col"])): r["classification"]
     for r in csv.DictReader(open("t9.csv", newline=""))}
gj = json.load(open("p33.geojson"))
pj = {(os.path.basename(f["properties"]["filename"]), f["properties"]["row"], f["properties"]["col"]):
      f["properties"]["classification"] for f in gj["features"]}
db = sqlite3.connect("p33.gpkg")
tables = [r[0] for r in db.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'")]
pg = {}
for tb in tables:
    for fn, r, c, cl in db.execute(f'SELECT filename, "row", col, classification FROM "{tb}"'):
        pg[(os.path.basename(fn), r, c)] = cl
pc = {(os.path.basename(r["filename"]), int(r["row"]), int(r["col"])): r["classification"]
      for r in csv.DictReader(open("p33.csv", newline=""))}
assert pj == pc == pg, "the three outputs disagree"
for name, p in (("p33.csv", pc), ("p33.geojson", pj), ("p33.gpkg", pg)):
    j = json.load(open(name + ".json"))
    keys = sorted(set(t) & set(p))
    acc = sum(t[k] == p[k] for k in keys) / len(keys)
    assert j["n_matched"] == len(keys) == 9 and abs(j["accuracy"] - acc) < 1e-12, (name, j, acc)
    labels = sorted({t[k] for k in keys} | {p[k] for k in keys})
    cm = [[sum(t[k] == a and p[k] == b for k in keys) for b in labels] for a in labels]
    assert j["classes"] == labels and j["confusion"] == cm, (name, j["confusion"], cm)
s = json.load(open("swapped.json"))
assert s["n_matched"] == 9 and abs(s["accuracy"] - json.load(open("p33.csv.json"))["accuracy"]) < 1e-12
print("eval over csv, geojson, gpkg ok")
PYEOF
for f in p33.csv p33.geojson p33.gpkg; do
  "$GEOLABEL" show --labels "$f" --image scene.tif -o "$f.png" --stretch none || fail "show $f"
done
"$PY" - <<'PYEOF'
from PIL import Image, ImageChops
a = Image.open("p33.csv.png").convert("RGB")
for f in ("p33.geojson.png", "p33.gpkg.png"):
    b = Image.open(f).convert("RGB")
    assert a.size == b.size and ImageChops.difference(a, b).getbbox() is None, f
print("show over csv, geojson, gpkg ok")
PYEOF
# A truncated GeoJSON is one line naming the file, for eval and show alike.
head -c 200 p33.geojson > broken.geojson
for cmd in "eval --pred broken.geojson --truth t9.csv" "show --labels broken.geojson --image scene.tif -o b.png"; do
  if "$GEOLABEL" $cmd > /dev/null 2> err.txt; then fail "$cmd accepted a truncated file"; fi
  grep -qF "broken.geojson: cannot read the labels" err.txt || { cat err.txt; fail "$cmd message"; }
  [ "$(wc -l < err.txt)" -eq 1 ] || { cat err.txt; fail "$cmd: one line"; }
done
echo "eval_match ok"
