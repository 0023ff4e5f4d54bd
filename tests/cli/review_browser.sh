#!/usr/bin/env bash
# review, in a real headless Chromium (Debian's, driven by playwright-core from tests/browser): the
# page loads from file:// without any network request, shows every tile, filters by class, takes
# two corrections (one by keyboard, one by click) in least-confident-first order (the selected
# tile's top-3 probabilities shown as the CSV's top3 column has them), and exports them
# as a truth CSV that Python's csv module and `geolabel eval` read back. A 10,000-tile page stays
# virtualised (a few hundred cells at most) while scrolling end to end.
set -eu
ROOT=${GEOLABEL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v node >/dev/null || { echo "SKIP: node is not installed (scripts/install-deps.sh)"; exit 77; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "SKIP: no chromium (scripts/install-deps.sh)"; exit 77; }
[ -d "$ROOT/tests/browser/node_modules/playwright-core" ] ||
  { echo "SKIP: tests/browser has no node_modules (npm ci --prefix tests/browser)"; exit 77; }
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
IMG=$GEOLABEL_SHARED/data/imagery
printf 'road\nhouses\ntrees\nwater\n' > classes.txt
"$GEOLABEL" -q label --model "$M" --classes classes.txt --split 3x4 "$IMG/colorado_aerial.tif" \
  "$IMG/RGB.byte.tif" -o out.csv
"$GEOLABEL" -q review out.csv --image-root "$IMG" --classes classes.txt -o review.html
grep -q 'const THUMBS=\["/9j/' review.html # JPEG thumbnails are embedded
! grep -Eq '(src|href)="https?:' review.html
"$PY" - <<'PYEOF'
import csv, json
rows = list(csv.DictReader(open("out.csv", newline="")))
counts = {}
for r in rows:
    counts[r["classification"]] = counts.get(r["classification"], 0) + 1
top = max(sorted(counts), key=lambda c: counts[c])
# key "2" picks the second class of classes.txt, the first legend button the first class
json.dump({"tiles": len(rows), "filter": {"class": top, "expect": counts[top]},
           "correct": {"key": 2, "button": 0}}, open("plan.json", "w"))
PYEOF
node "$ROOT/tests/browser/review.mjs" review.html . plan.json > seen.json
"$PY" - <<'PYEOF'
import csv, json
classes = [l.strip() for l in open("classes.txt") if l.strip()]
rows = list(csv.DictReader(open("out.csv", newline="")))
# The page's tile order: scenes by first appearance, then (row, col); then least confident first.
scenes = []
for r in rows:
    if r["filename"] not in scenes:
        scenes.append(r["filename"])
order = sorted(rows, key=lambda r: (scenes.index(r["filename"]), int(r["row"]), int(r["col"])))
ranked = sorted(range(len(order)), key=lambda i: (float(order[i]["score"]), i))
want = {ranked[0]: classes[1], ranked[1]: classes[0]}
seen = json.load(open("seen.json"))
assert sorted(seen["corrected"]) == sorted(want), (seen, want)
got = list(csv.DictReader(open("exported.csv", newline="")))
assert len(got) == 2, got
for g, i in zip(got, sorted(want)):
    src = order[i]
    for k in ("filename", "row", "col", "left", "upper", "right", "lower"):
        assert g[k] == src[k], (k, g[k], src[k])
    assert g["classification"] == want[i] and g["classification_tree"] == want[i], g
    assert g["classification_mode"] == "truth" and g["score"] == "1", g
assert seen["download"] == "out.truth.csv", seen["download"]
# the first corrected tile's top-3, as the page shows it, is the CSV's top3 column
top3 = [x.rsplit(":", 1) for x in order[ranked[0]]["top3"].split(";")]
shown = [x.rsplit(" ", 1) for x in seen["detail_top3"]]
assert len(top3) == 3 and len(shown) == 3, (top3, shown)
for (name, p), (sname, sp) in zip(top3, shown):
    assert name == sname and abs(float(p) - float(sp)) <= 5.01e-4, (top3, shown)
json.dump(want, open("want.json", "w"))
print("browser:", seen)
PYEOF
"$GEOLABEL" eval --pred out.csv --truth exported.csv --json > eval.json
"$PY" - <<'PYEOF'
import csv, json
e = json.load(open("eval.json"))
assert e["n_truth"] == 2 and e["n_matched"] == 2, e
# accuracy: how many of the two corrections agree with the prediction
pred = {(r["filename"], r["row"], r["col"]): r["classification"] for r in csv.DictReader(open("out.csv", newline=""))}
truth = list(csv.DictReader(open("exported.csv", newline="")))
agree = sum(pred[(t["filename"], t["row"], t["col"])] == t["classification"] for t in truth)
assert abs(e["accuracy"] - agree / 2) < 1e-9, (e["accuracy"], agree)
PYEOF
# 10,000 tiles of one scene (a 100 x 100 grid of 3 x 2-pixel tiles of colorado_aerial.tif).
"$PY" - <<'PYEOF'
import csv, random, json
random.seed(7)
w = csv.writer(open("big.csv", "w", newline=""))
w.writerow("filename,row,col,left,upper,right,lower,classification_mode,description,classification_tree,classification,score".split(","))
names = ["road", "houses", "trees", "water"]
for r in range(100):
    for c in range(100):
        lab = random.choice(names)
        w.writerow(["colorado_aerial.tif", r, c, 3 * c, 2 * r + 2, 3 * c + 3, 2 * r, "flat", "", lab, lab, "%.6f" % random.random()])
json.dump({"tiles": 10000, "scroll": True}, open("plan_big.json", "w"))
PYEOF
"$GEOLABEL" -q review big.csv --image-root "$IMG" --thumb 32 -o big.html
mkdir -p big
node "$ROOT/tests/browser/review.mjs" big.html big plan_big.json > big.json
"$PY" - <<'PYEOF'
import json
s = json.load(open("big.json"))
assert s["total"] == 10000 and s["cells"] < 400 and s["frames"]["cells"] < 400, s
print("10,000 tiles:", s)
PYEOF
if [ -n "${GEOLABEL_KEEP_SCREENSHOTS:-}" ]; then cp review.png big/review_scrolled.png "$GEOLABEL_KEEP_SCREENSHOTS"/; fi
echo ok
