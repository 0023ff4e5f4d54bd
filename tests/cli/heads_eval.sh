#!/usr/bin/env bash
# eval --head on the fixture rows: every metric recomputed in plain Python from the reference
# probabilities (expected/*.probs.npy), targets (expected/targets.npy) and the rows' splits.
set -euo pipefail
F=$GEOLABEL_SHARED/fixtures/geograph
"$GEOLABEL" eval --head "$F/best_geograph_model_v2.pth" --data "$F/expected/inputs.jsonl" --json > eval.json
"$GEOLABEL" eval --head "$F/best_geograph_model_v2.pth" --data "$F/expected/inputs.jsonl" > eval.txt
grep -q "micro-F1" eval.txt
"$PY" - "$F" <<'PYEOF'
import json, sys, math, numpy as np
F = sys.argv[1]
P = np.load(F + "/expected/best_geograph_model_v2.probs.npy").tolist()
T = np.load(F + "/expected/targets.npy").tolist()
split = [json.loads(l)["split"] for l in open(F + "/expected/inputs.jsonl")]
e = json.load(open("eval.json"))
tes = [i for i, s in enumerate(split) if s == "tes"]
val = [i for i, s in enumerate(split) if s == "val"]
assert e["n_test"] == len(tes) and e["n_val"] == len(val)
def counts(rows, k, thr):
    tp = sum(1 for i in rows if P[i][k] > thr and T[i][k] == 1)
    fp = sum(1 for i in rows if P[i][k] > thr and T[i][k] == 0)
    fn = sum(1 for i in rows if not P[i][k] > thr and T[i][k] == 1)
    return tp, fp, fn
div = lambda a, b: a / b if b else 0.0
def prf(rows, thrs):
    out, TP, FP, FN = [], 0, 0, 0
    for k in range(7):
        tp, fp, fn = counts(rows, k, thrs[k])
        out.append((div(tp, tp + fp), div(tp, tp + fn), div(2 * tp, 2 * tp + fp + fn)))
        TP += tp; FP += fp; FN += fn
    return out, div(2 * TP, 2 * TP + FP + FN), sum(o[2] for o in out) / 7
def ap(rows, k):
    pos = sum(T[i][k] for i in rows)
    if not pos: return None
    order = sorted(rows, key=lambda i: -P[i][k])
    total, tp, prev, j = 0.0, 0, 0.0, 0
    while j < len(order):
        s = P[order[j]][k]
        while j < len(order) and P[order[j]][k] == s:
            tp += T[order[j]][k]; j += 1
        r = tp / pos
        total += (r - prev) * tp / j; prev = r
    return total
close = lambda a, b: abs(a - b) <= 2e-6
per, micro, macro = prf(tes, [0.5] * 7)
assert close(e["micro_f1"], micro) and close(e["macro_f1"], macro), (e["micro_f1"], micro)
tuned = []
for k in range(7):
    best, bt = -1, 0.5
    for s in range(1, 100):
        tp, fp, fn = counts(val, k, s / 100)
        f = div(2 * tp, 2 * tp + fp + fn)
        if f > best: best, bt = f, s / 100
    tuned.append(bt)
tper, tmicro, tmacro = prf(tes, tuned)
assert close(e["tuned_micro_f1"], tmicro) and close(e["tuned_macro_f1"], tmacro)
aps = []
for k, c in enumerate(e["classes"]):
    assert c["name"] == ["Aerial", "Close Look", "Cross Far", "Extra", "Geograph", "Inside", "From Drone"][k]
    assert all(close(c[n], v) for n, v in zip(["precision", "recall", "f1"], per[k])), (k, c, per[k])
    assert all(close(c[n], v) for n, v in zip(["tuned_precision", "tuned_recall", "tuned_f1"], tper[k]))
    assert close(c["threshold"], tuned[k])
    a = ap(tes, k)
    assert (a is None and c["ap"] is None) or close(c["ap"], a), (k, c["ap"], a)
    if a is not None: aps.append(a)
assert close(e["map"], sum(aps) / len(aps))
PYEOF
echo ok
