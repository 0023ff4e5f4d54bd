#!/usr/bin/env bash
# Numbers: NaN or infinite weights, an infinite logit_scale and embeddings that overflow are errors
# naming the tensor or the input, never `nan` scores with exit 0; predict fails when every row of
# its data is bad. The broken models are copies of the fixture rewritten here with Python's
# struct/json/numpy (the fixture itself is never touched).
set -uo pipefail
F=$GEOLABEL_SHARED/fixtures
M=$F/clip-tiny-b32
G=$F/geograph
IMG=$F/expected/images/01_chelsea.png
fail() { echo "FAIL: $*"; exit 1; }
# expect_fail NEEDLE CMD...: non-zero exit (not a signal) and NEEDLE in stderr
expect_fail() {
  local needle=$1; shift
  "$@" >out.txt 2>err.txt; local rc=$?
  [ $rc -ne 0 ] && [ $rc -lt 128 ] || { cat err.txt; fail "rc $rc for $*"; }
  grep -qF -- "$needle" err.txt || { cat err.txt; fail "no '$needle' for $*"; }
  ! grep -qi "nan" out.txt || fail "nan written to stdout by $*"
}
printf 'cat\ndog\nforest\n' > classes.txt
# copy_with NAME TENSOR VALUE: the fixture model with every element of TENSOR (or element 7 when
# VALUE is nan) set to VALUE.
copy_with() {
  mkdir -p "$1" && cp "$M"/*.json "$M"/merges.txt "$1"/ || fail "copy"
  "$PY" - "$M/model.safetensors" "$1/model.safetensors" "$2" "$3" <<'PYEOF' || fail "python rewrite"
import json, struct, sys, numpy as np
src, dst, name, value = sys.argv[1:]
raw = bytearray(open(src, "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
t = head[name]
assert t["dtype"] == "F32", t
a, b = t["data_offsets"]
x = np.frombuffer(bytes(raw[8 + n + a:8 + n + b]), dtype="<f4").copy()
if value == "nan":
    x[min(7, x.size - 1)] = np.nan
else:
    x[:] = np.float32(float(value))
raw[8 + n + a:8 + n + b] = x.tobytes()
open(dst, "wb").write(bytes(raw))
PYEOF
}

# 1. A NaN in one weight: refused at load, naming the file and the tensor, for every command.
T=vision_model.encoder.layers.1.mlp.fc1.weight
copy_with nan_model "$T" nan
expect_fail "model.safetensors: tensor '$T' holds NaN at element 7" \
  "$GEOLABEL" classify --model nan_model --classes classes.txt "$IMG" -o c.csv
[ ! -e c.csv ] || fail "classify wrote an output from a NaN model"
expect_fail "tensor '$T' holds NaN" "$GEOLABEL" label --model nan_model --classes classes.txt "$IMG" -o l.csv
expect_fail "tensor '$T' holds NaN" "$GEOLABEL" embed --model nan_model "$IMG" -o e.npy
T2=text_model.encoder.layers.0.self_attn.q_proj.bias
copy_with inf_text "$T2" inf
expect_fail "tensor '$T2' holds an infinity at element 0" \
  "$GEOLABEL" classify --model inf_text --classes classes.txt "$IMG" -o c.csv

# 2. logit_scale infinite, NaN, or so large that exp() overflows float32 (exp(89) > FLT_MAX).
for v in inf nan 89; do
  copy_with scale_$v logit_scale $v
  expect_fail "logit_scale" "$GEOLABEL" classify --model scale_$v --classes classes.txt "$IMG" -o c.csv
done
grep -qF "not finite" err.txt || { cat err.txt; fail "logit_scale message"; }

# 3. Finite weights whose projection overflows: the image embedding is infinite or NaN. classify
#    names the image; label reports the input as failed and exits non-zero.
copy_with big_proj visual_projection.weight 3e38
expect_fail "$IMG: its embedding holds NaN or an infinity" \
  "$GEOLABEL" classify --model big_proj --classes classes.txt "$IMG" -o c.csv
expect_fail "its embedding holds NaN or an infinity" \
  "$GEOLABEL" label --model big_proj --classes classes.txt "$IMG" -o l.csv
grep -qF "01_chelsea.png" err.txt || { cat err.txt; fail "label does not name the input"; }
[ ! -e l.csv ] || ! grep -qi nan l.csv || fail "label wrote nan scores"

# 4. predict: data whose every row is bad (NaN embedding, bad base64, wrong length) fails; one
#    good row among them is enough to succeed.
"$PY" - "$G/expected/inputs.jsonl" <<'PYEOF' || fail "python rows"
import base64, json, sys, numpy as np
good = json.loads(open(sys.argv[1]).readline())
dim = len(base64.b64decode(good["embeddings"])) // 4
nan = np.zeros(dim, "<f4"); nan[3] = np.nan
inf = np.zeros(dim, "<f4"); inf[0] = np.inf
bad = []
for i, emb in enumerate([base64.b64encode(nan.tobytes()).decode(), base64.b64encode(inf.tobytes()).decode(),
                         "!!notbase64!!", base64.b64encode(b"\0" * 12).decode()]):
    r = dict(good); r["gridimage_id"] = 1000 + i; r["embeddings"] = emb; bad.append(r)
with open("bad.jsonl", "w") as f:
    for r in bad: f.write(json.dumps(r) + "\n")
with open("one_good.jsonl", "w") as f:
    for r in bad + [good]: f.write(json.dumps(r) + "\n")
PYEOF
CK=$G/best_geograph_model_v2.pth
expect_fail "every row was bad" "$GEOLABEL" predict --head "$CK" --data bad.jsonl -o p.csv
expect_fail "every row was bad" "$GEOLABEL" predict --head "$CK" --data bad.jsonl --keep-bad-rows -o p.csv
"$GEOLABEL" predict --head "$CK" --data one_good.jsonl -o p.csv 2>err.txt || { cat err.txt; fail "one good row"; }
[ "$("$PY" -c 'import csv; print(len(list(csv.reader(open("p.csv")))))')" = 2 ] || fail "one row predicted"

# dataset targets too: malformed rows only is a failure, not an empty table with exit 0
printf '{"gridimage_id": 1, "types": \n{oops\n' > bad_targets.jsonl
expect_fail "every row was bad" "$GEOLABEL" dataset targets --data bad_targets.jsonl -o tg.csv

# 5. A head checkpoint with a NaN weight: refused at load, naming the tensor.
"$PY" - "$CK" <<'PYEOF' || fail "python head"
import sys, torch
d = torch.load(sys.argv[1], map_location="cpu")
d["model_state_dict"]["fc.0.weight"][2, 5] = float("nan")
torch.save(d, "nan_head.pth")
PYEOF
expect_fail "nan_head.pth: tensor 'fc.0.weight' holds NaN" \
  "$GEOLABEL" predict --head nan_head.pth --data "$G/expected/inputs.jsonl" -o p2.csv
[ ! -e p2.csv ] || fail "predict wrote an output from a NaN head"
echo "numbers ok"
