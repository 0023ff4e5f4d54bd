#!/usr/bin/env bash
# eval (labels): metrics of `geolabel eval --json` against plain Python over the same CSVs (a
# random 4-class example with a tree column), plus the confusion PNG checked with gdalinfo.
set -eu
"$PY" - <<'PYEOF'
import csv, random
random.seed(7)
classes = {"forest": "Nature", "river": "Nature", "houses": "Built", "roads, paved": "Built"}
names = sorted(classes)
head = "filename,row,col,left,upper,right,lower,classification_mode,description,classification_tree,classification".split(",")
with open("truth.csv", "w", newline="") as t, open("pred.csv", "w", newline="") as p:
    wt, wp = csv.writer(t), csv.writer(p)
    wt.writerow(head); wp.writerow(head)
    rows = [(f, r, c) for f in ("a.tif", "b.tif") for r in range(6) for c in range(7)]
    for f, r, c in rows:
        tl = random.choice(names)
        pl = tl if random.random() < 0.6 else random.choice(names)
        if random.random() < 0.9:
            wt.writerow([f, r, c, 0, 0, 0, 0, "truth", "", f"{classes[tl]};{tl}", tl])
        if random.random() < 0.9:
            wp.writerow(["/some/dir/" + f, r, c, 0, 0, 0, 0, "hierarchical", "", f"{classes[pl]};{pl}", pl])
PYEOF
"$GEOLABEL" eval --pred pred.csv --truth truth.csv --json --confusion-png cm.png --allow-partial > out.json
"$GEOLABEL" eval --pred pred.csv --truth truth.csv --allow-partial > out.txt
grep -q '^accuracy' out.txt
"$PY" - <<'PYEOF'
import csv, json, math, os
def load(path):
    return {(os.path.basename(r["filename"]), r["row"], r["col"]): (r["classification"], r["classification_tree"])
            for r in csv.DictReader(open(path, newline=""))}
t, p = load("truth.csv"), load("pred.csv")
keys = sorted(set(t) & set(p))
labels = sorted({t[k][0] for k in keys} | {p[k][0] for k in keys})
n = len(keys)
acc = sum(t[k][0] == p[k][0] for k in keys) / n
f1s, per = [], {}
for c in labels:
    tp = sum(t[k][0] == c and p[k][0] == c for k in keys)
    npred = sum(p[k][0] == c for k in keys); ntrue = sum(t[k][0] == c for k in keys)
    pr = tp / npred if npred else 0.0; rc = tp / ntrue if ntrue else 0.0
    f1 = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
    per[c] = (pr, rc, f1, ntrue); f1s.append(f1)
pe = sum(sum(t[k][0] == c for k in keys) * sum(p[k][0] == c for k in keys) for c in labels) / n / n
kappa = (acc - pe) / (1 - pe)
lvl1 = sum(t[k][1].split(";")[0] == p[k][1].split(";")[0] for k in keys) / n
j = json.load(open("out.json"))
def close(a, b, what):
    assert abs(a - b) < 1e-9, f"{what}: geolabel {a} python {b}"
assert j["n_matched"] == n and j["n_truth"] == len(t) and j["n_pred"] == len(p), j
assert j["classes"] == labels, j["classes"]
close(j["accuracy"], acc, "accuracy"); close(j["kappa"], kappa, "kappa")
close(j["macro_f1"], sum(f1s) / len(f1s), "macro-F1")
for c in labels:
    got = j["per_class"][c]
    for name, a, b in zip(("precision", "recall", "f1", "support"), (got["precision"], got["recall"], got["f1"], got["support"]), per[c]):
        close(a, b, f"{c} {name}")
for i, a in enumerate(labels):
    for k2, b in enumerate(labels):
        assert j["confusion"][i][k2] == sum(t[k][0] == a and p[k][0] == b for k in keys)
close(j["levels"][0]["accuracy"], lvl1, "level 1")
close(j["levels"][1]["accuracy"], acc, "level 2")
print("eval ok:", n, "tiles, accuracy", round(acc, 4), "kappa", round(kappa, 4))
PYEOF
gdalinfo cm.png | grep -q "Driver: PNG/Portable Network Graphics"
# --hierarchy: a truth without trees gets its labels' paths from the YAML.
printf 'Built:\n- houses\n- roads, paved\nNature:\n- forest\n- river\n' > meta.yaml
"$PY" -c '
import csv
rows = list(csv.DictReader(open("truth.csv", newline="")))
w = csv.writer(open("flat_truth.csv", "w", newline=""))
w.writerow(["filename", "row", "col", "classification"])
for r in rows: w.writerow([r["filename"], r["row"], r["col"], r["classification"]])'
"$GEOLABEL" eval --pred pred.csv --truth flat_truth.csv --json --allow-partial > flat.json
"$GEOLABEL" eval --pred pred.csv --truth flat_truth.csv --hierarchy meta.yaml --json --allow-partial > hier.json
"$PY" - <<'PYEOF'
import json
a, f, h = json.load(open("out.json")), json.load(open("flat.json")), json.load(open("hier.json"))
assert f["levels"] == [] and f["accuracy"] == a["accuracy"], f["levels"]
assert h["levels"] == a["levels"], (h["levels"], a["levels"])
PYEOF
# Bad input: a missing column is one clear line and a non-zero exit.
printf 'filename,row,col\nx,0,0\n' > bad.csv
if "$GEOLABEL" eval --pred bad.csv --truth truth.csv 2> err.txt; then exit 1; fi
grep -q "bad.csv: no 'classification' (or 'label') column" err.txt
