#!/usr/bin/env bash
# locate --method zeroshot on the tiny fixture CLIP (random weights: only mechanics can be
# checked): --countries FR gives FR and one of FR's 30 gazetteer cities (read with Python's csv),
# the prompt cache is hit on the second run and rebuilt when corrupt, GeoJSON has the same rows.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
IMG=$GEOLABEL_SHARED/data/imagery/Kauai.png
export GEOLABEL_CACHE=$PWD/cache
"$GEOLABEL" -v locate --model "$M" --countries FR --top-k 3 -o fr.csv "$IMG" 2> log1
grep -q "text encodings 31, cached prompt embeddings used 0" log1
"$GEOLABEL" -v locate --model "$M" --countries FR --top-k 3 -o fr2.csv "$IMG" 2> log2
grep -q "text encodings 0, cached prompt embeddings used 31" log2
cmp fr.csv fr2.csv
# The prompt cache is per text-tower dtype: int8 keeps the text tower in f32 and uses f32's
# entries; bf16 encodes its own (and leaves f32's as they were). A CPU without AVX512-BF16
# refuses bf16, naming it.
"$GEOLABEL" -v locate --model "$M" --dtype int8 --countries FR -o i8.csv "$IMG" 2> log_i8 ||
  grep -q "dtype int8: needs" log_i8
grep -q "dtype int8: needs" log_i8 || grep -q "text encodings 0, cached prompt embeddings used 31" log_i8
if "$GEOLABEL" -v locate --model "$M" --dtype bf16 --countries FR -o bf.csv "$IMG" 2> log_bf; then
  grep -q "text encodings 31, cached prompt embeddings used 0" log_bf
  "$GEOLABEL" -v locate --model "$M" --dtype bf16 --countries FR -o bf2.csv "$IMG" 2> log_bf2
  grep -q "text encodings 0, cached prompt embeddings used 31" log_bf2
  cmp bf.csv bf2.csv
else
  grep -q "dtype bf16: needs AVX512-BF16" log_bf
fi
"$GEOLABEL" -v locate --model "$M" --countries FR --top-k 3 -o fr2.csv "$IMG" 2> log2
grep -q "text encodings 0, cached prompt embeddings used 31" log2
cmp fr.csv fr2.csv
# A corrupt cache (one flipped byte in every file) is detected and rebuilt, with the same answer.
for f in cache/embeddings/*.emb; do
  $PY -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[len(b)//2]^=1; open(sys.argv[1],'wb').write(b)" "$f"
done
"$GEOLABEL" -v locate --model "$M" --countries FR --top-k 3 -o fr3.csv "$IMG" 2> log3
grep -q "text encodings 31, cached prompt embeddings used 0" log3
cmp fr.csv fr3.csv
"$GEOLABEL" locate --model "$M" --countries FR --top-k 3 -o fr.geojson "$IMG"
ogrinfo -al -so fr.geojson | grep -q 'WGS 84'
$PY - "$GEOLABEL_SHARED/data/gazetteer/cities.csv" <<'PYEOF'
import csv, json, sys
fr = [r for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")) if r["iso2"] == "FR"][:30]
byname = {r["name"]: r for r in fr}
rows = list(csv.DictReader(open("fr.csv", encoding="utf-8")))
assert len(rows) == 1, rows
r = rows[0]
assert r["filename"].endswith("Kauai.png")
scores = []
for k in ("", "_2", "_3"):
    assert r["country" + k] == "FR" and abs(float(r["country_prob" + k]) - 1) < 1e-6, r
    city = byname[r["city" + k]]
    assert abs(float(r["lat" + k]) - float(city["lat"])) < 1e-9 and abs(float(r["lon" + k]) - float(city["lon"])) < 1e-9
    assert abs(float(r["score" + k]) - float(r["city_prob" + k])) < 1e-6
    scores.append(float(r["score" + k]))
assert scores == sorted(scores, reverse=True), scores
g = json.load(open("fr.geojson", encoding="utf-8"))
f, = g["features"]
assert f["geometry"]["coordinates"] == [float(r["lon"]), float(r["lat"])], f
for k, v in r.items():
    p = f["properties"][k]
    assert (p == v) if isinstance(p, str) else abs(p - float(v)) < 1e-6 * max(1, abs(p)), (k, p, v)
print("ok", r["city"], r["city_2"], r["city_3"])
PYEOF
# Level country: top-3 countries at their gazetteer points, no city.
"$GEOLABEL" locate --model "$M" --level country --top-k 3 -o c.csv "$IMG"
$PY - "$GEOLABEL_SHARED/data/gazetteer/countries.csv" <<'PYEOF'
import csv, sys
pts = {r["iso2"]: r for r in csv.DictReader(open(sys.argv[1], encoding="utf-8"))}
r = next(csv.DictReader(open("c.csv", encoding="utf-8")))
ps = []
for k in ("", "_2", "_3"):
    c = pts[r["country" + k]]
    assert float(r["lat" + k]) == float(c["lat"]) and float(r["lon" + k]) == float(c["lon"]), r
    assert r["city" + k] == "" and r["city_prob" + k] == ""
    ps.append(float(r["country_prob" + k]))
assert ps == sorted(ps, reverse=True) and 0 < sum(ps) <= 1 + 1e-6, ps
PYEOF
# locate's CSV is eval --geo's prediction file: Kauai (22.0964, -159.5261) against the FR guess.
printf 'filename,lat,lon,iso2\nKauai.png,22.0964,-159.5261,US\n' > truth.csv
"$GEOLABEL" eval --geo --pred fr.csv --truth truth.csv --json > ev.json
$PY - <<'PYEOF'
import csv, json, math
r = next(csv.DictReader(open("fr.csv", encoding="utf-8")))
p1, p2 = math.radians(22.0964), math.radians(float(r["lat"]))
h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(float(r["lon"]) + 159.5261) / 2) ** 2
d = 2 * 6371.0 * math.asin(math.sqrt(h))
e = json.load(open("ev.json"))
assert e["n_matched"] == 1 and abs(e["median_km"] - d) < 1e-6 and e["country_accuracy_pct"] == 0, (e, d)
assert e["within_km_pct"]["2500"] == 0
PYEOF
# The same image given as precomputed features (geolabel embed) gets the same answers.
"$GEOLABEL" embed --model "$M" -o k.npy "$IMG"
"$GEOLABEL" locate --model "$M" --countries FR --top-k 3 --image-features k.npy -o feat.csv
$PY - <<'PYEOF'
import csv
a = next(csv.DictReader(open("fr.csv", encoding="utf-8")))
b = next(csv.DictReader(open("feat.csv", encoding="utf-8")))
assert b["filename"] == "k.npy#0", b["filename"]
for k in a:
    if k != "filename":
        assert a[k] == b[k] or abs(float(a[k]) - float(b[k])) < 1e-6, (k, a[k], b[k])
PYEOF
