#!/usr/bin/env bash
# Inputs are keyed by the path as given: two scenes named a.tif in different folders stay apart
# (an `input` column beside GVL's base-name `filename`), --resume finds both complete, and GDAL
# virtual paths (/vsizip/ of a zip written by Python's zipfile) label exactly like the plain file.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'sea\ncity\nfields\n' > classes.txt
mkdir x y
cp "$D/colorado_aerial.tif" x/a.tif
cp "$D/world.rgb.tif" y/a.tif
$PY -c "import zipfile; z = zipfile.ZipFile('s.zip', 'w'); z.write('x/a.tif', 'in/a.tif'); z.close()"
run() { "$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 "$@"; }
run x/a.tif y/a.tif /vsizip/s.zip/in/a.tif -o o.csv
run --resume x/a.tif y/a.tif /vsizip/s.zip/in/a.tif -o o.csv 2> resume.err
grep -q "0 labelled, 3 already complete" resume.err || { cat resume.err; exit 1; }
# A URL goes to GDAL (nothing listens on port 1): its error is GDAL's, not "no such file".
if run "http://127.0.0.1:1/scene.tif" -o url.csv 2> url.err; then exit 1; fi
grep -q "http://127.0.0.1:1/scene.tif" url.err
if grep -q "no such file" url.err; then cat url.err; exit 1; fi
$PY - "$D" <<'PYEOF'
import csv, subprocess, sys
rows = list(csv.DictReader(open("o.csv", newline="")))
by = {}
for r in rows:
    by.setdefault(r["input"], []).append(r)
assert sorted(by) == ["/vsizip/s.zip/in/a.tif", "x/a.tif", "y/a.tif"], sorted(by)
assert all(len(v) == 4 for v in by.values())
assert {r["filename"] for r in rows} == {"a.tif"}
# Each scene keeps its own CRS and bounds: gdalinfo's corners (3 decimals) bound its tiles.
import json
for path in by:
    info = json.loads(subprocess.check_output(["gdalinfo", "-json", path]))
    ring = info["cornerCoordinates"]
    xs = [ring[k][0] for k in ("upperLeft", "lowerRight")]
    ys = [ring[k][1] for k in ("upperLeft", "lowerRight")]
    assert abs(min(float(r["x_min"]) for r in by[path]) - min(xs)) < 1e-3, path
    assert abs(max(float(r["x_max"]) for r in by[path]) - max(xs)) < 1e-3, path
    assert abs(min(float(r["y_min"]) for r in by[path]) - min(ys)) < 1e-3, path
    assert abs(max(float(r["y_max"]) for r in by[path]) - max(ys)) < 1e-3, path
strip = lambda r: {k: v for k, v in r.items() if k != "input"}
assert [strip(r) for r in by["x/a.tif"]] == [strip(r) for r in by["/vsizip/s.zip/in/a.tif"]]
assert by["x/a.tif"][0]["crs"] == "EPSG:26913" and by["y/a.tif"][0]["crs"] == "EPSG:4326"
print("ok")
PYEOF
