#!/usr/bin/env bash
# classify: zero-shot CSV against probabilities computed from transformers' logits_per_image
# (fixtures/expected): with --template '{}' and texts.json strings as class names, the prompts are
# exactly the fixture texts, so softmax over their logits is the reference. Read with Python's csv.
set -eu
F=$GEOLABEL_SHARED/fixtures
E=$F/expected
PNGS="$E/images/01_chelsea.png $E/images/03_camera_gray.png $E/images/05_tiny_5x7.png"
# texts 0, 1, 4, 9, 10 (commas and quotes exercise CSV quoting)
"$PY" -c 'import json,sys; t=json.load(open(sys.argv[1])); print("\n".join(t[i] for i in (0,1,4,9,10)))' "$E/texts.json" > classes.txt

for m in clip-tiny-b32 clip-tiny-l14-336; do
  "$GEOLABEL" classify --model "$F/$m" --classes classes.txt --template '{}' --top-k 3 $PNGS -o out.csv
  "$PY" - out.csv "$E/$m/logits_per_image.npy" "$E/texts.json" $PNGS <<'PYEOF'
import sys, csv, json, numpy as np
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
texts = json.load(open(sys.argv[3], encoding="utf-8"))
cols = [0, 1, 4, 9, 10]
names = [texts[i] for i in cols]
logits = np.load(sys.argv[2]).astype(np.float64)[[1, 3, 5]][:, cols]
p = np.exp(logits - logits.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
assert rows[0] == ["filename", "label", "score", "top_k"], rows[0]
assert len(rows) == 4, len(rows)
for i, (fn, label, score, topk) in enumerate(rows[1:]):
    assert fn == sys.argv[4 + i], fn
    order = np.argsort(-p[i], kind="stable")
    assert label == names[order[0]], (label, names[order[0]])
    assert abs(float(score) - p[i, order[0]]) < 1e-4, (score, p[i, order[0]])
    # names may hold ':' and ';' themselves, so walk the list expecting each name in turn
    rest = topk
    for k in range(3):
        name = names[order[k]] + ":"
        assert rest.startswith(name), (rest, name)
        prob, _, rest = rest[len(name):].partition(";")
        assert abs(float(prob) - p[i, order[k]]) < 1e-4, (prob, k)
    assert rest == "", rest
PYEOF
done

# default template, stdout output, top-k larger than the class count
"$GEOLABEL" classify --model "$F/clip-tiny-b32" --classes classes.txt --top-k 50 "$E/images/01_chelsea.png" > std.csv
"$PY" -c '
import csv, re
rows = list(csv.reader(open("std.csv", newline="", encoding="utf-8")))
probs = [float(x) for x in re.findall(r":([0-9]\.[0-9]{6})(?:;|$)", rows[1][3])]
assert len(rows) == 2 and len(probs) == 5, rows
assert abs(sum(probs) - 1) < 1e-4 and probs == sorted(probs, reverse=True), probs
'

# bad class lists: empty, duplicates
printf '# nothing\n\n' > empty.txt
if "$GEOLABEL" classify --model "$F/clip-tiny-b32" --classes empty.txt $PNGS -o bad.csv 2>err.txt; then exit 1; fi
grep -q "empty.txt" err.txt
printf 'cat\ndog\ncat\n' > dup.txt
if "$GEOLABEL" classify --model "$F/clip-tiny-b32" --classes dup.txt $PNGS -o bad.csv 2>err.txt; then exit 1; fi
grep -q "dup.txt" err.txt
[ "$(wc -l < err.txt)" -eq 1 ]
[ ! -e bad.csv ]
echo ok
