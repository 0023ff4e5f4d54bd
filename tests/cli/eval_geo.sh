#!/usr/bin/env bash
# eval --geo: a hand-made pred/truth pair whose haversine distances Python's math module computes
# independently; the JSON report must agree, and bad truth coordinates must fail naming the line.
set -eu
cat > pred.csv <<'CSV'
filename,lat,lon,country,country_prob,city,city_prob,score
paris.jpg,51.5074,-0.1278,GB,0.9,London,0.5,0.45
near.jpg,40.0,-74.0,US,0.8,,,
pole.jpg,90,0,AQ,0.1,,,
anti.jpg,10,20,FR,0.2,,,
dir/sub/tokyo.jpg,35.0,139.0,JP,0.3,,,
CSV
cat > truth.csv <<'CSV'
filename,lat,lon,iso2
paris.jpg,48.8566,2.3522,FR
near.jpg,40.1,-74.1,US
pole.jpg,-90,0,AQ
anti.jpg,-10,-160,
tokyo.jpg,35.6895,139.6917,JP
missing.jpg,1,2,BR
CSV
"$GEOLABEL" eval --geo --pred pred.csv --truth truth.csv --json > out.json
"$GEOLABEL" eval --geo --pred pred.csv --truth truth.csv > out.txt
grep -q "median error" out.txt
$PY - <<'PYEOF'
import csv, json, math
def hav(a, b, c, d):
    p1, p2 = math.radians(a), math.radians(c)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(d - b) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))
pred = {r["filename"].split("/")[-1]: r for r in csv.DictReader(open("pred.csv"))}
truth = list(csv.DictReader(open("truth.csv")))
d, hits, n_iso = [], 0, 0
for t in truth:
    p = pred.get(t["filename"])
    if t["iso2"]:
        n_iso += 1
    if p is None:
        continue
    d.append(hav(float(t["lat"]), float(t["lon"]), float(p["lat"]), float(p["lon"])))
    hits += bool(t["iso2"]) and t["iso2"] == p["country"]
got = json.load(open("out.json"))
assert got["n_truth"] == 6 and got["n_matched"] == 5, got
for km in (1, 25, 200, 750, 2500):
    want = 100.0 * sum(x <= km for x in d) / len(truth)
    assert abs(got["within_km_pct"][str(km)] - want) < 1e-9, (km, got["within_km_pct"], want)
s = sorted(d)
assert abs(got["median_km"] - s[len(s) // 2]) < 1e-6, (got["median_km"], s)
assert abs(got["mean_km"] - sum(d) / len(d)) < 1e-6
assert got["n_country"] == n_iso == 5 and abs(got["country_accuracy_pct"] - 100.0 * hits / n_iso) < 1e-9, got
print("ok", d)
PYEOF
# Truth out of range: a clear error naming the file and line, non-zero exit.
printf 'filename,lat,lon\npole.jpg,-90.5,0\n' > bad.csv
if "$GEOLABEL" eval --geo --pred pred.csv --truth bad.csv 2> err.txt; then exit 1; fi
grep -q "bad.csv: line 2: latitude '-90.5'" err.txt
printf 'filename,lat\npole.jpg,-90\n' > bad2.csv
if "$GEOLABEL" eval --geo --pred pred.csv --truth bad2.csv 2> err.txt; then exit 1; fi
grep -q "bad2.csv: line 1: missing column 'lon'" err.txt
