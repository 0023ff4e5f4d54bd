#!/usr/bin/env bash
# model convert --dtype int8: int8.safetensors holds the image tower's weights quantised as numpy
# computes it from the converted F32 weights (per output channel, scale = max|w| / 127,
# q = rint(w / scale)); an int8 load of the folder gives the same embeddings as quantising at
# load; a damaged file is refused naming it; an f32 convert into the folder removes the old file.
set -euo pipefail
MODEL=$GEOLABEL_SHARED/fixtures/clip-tiny-b32

"$GEOLABEL" model convert "$MODEL" --dtype int8 -o conv > /dev/null
[ -f conv/int8.safetensors ]
$PY - conv <<'PY'
import json, struct, sys
import numpy as np

def read(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    meta = head.pop("__metadata__", {})
    types = {"F32": np.float32, "I8": np.int8}
    out = {}
    for name, e in head.items():
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], types[e["dtype"]]).reshape(e["shape"])
    return out, meta

d = sys.argv[1]
w, _ = read(f"{d}/model.safetensors")
q, meta = read(f"{d}/int8.safetensors")
assert meta.get("format") == "geolabel-int8", meta
layers = json.load(open(f"{d}/config.json"))["vision_config"]["num_hidden_layers"]
names = [f"vision_model.encoder.layers.{i}.{p}.weight" for i in range(layers)
         for p in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                   "self_attn.out_proj", "mlp.fc1", "mlp.fc2")]
names.append("vision_model.embeddings.patch_embedding.weight")
assert sorted(q) == sorted(names + [n + ".scale" for n in names]), sorted(q)
for n in names:
    f = w[n].reshape(w[n].shape[0], -1)
    mx = np.abs(f).max(axis=1)
    scale = np.where(mx > 0, mx / np.float32(127), np.float32(1)).astype(np.float32)
    ref = np.clip(np.rint(f / scale[:, None]), -127, 127).astype(np.int8)
    assert np.array_equal(q[n + ".scale"], scale), n
    assert np.array_equal(q[n], ref), (n, int((q[n] != ref).sum()))
print("int8.safetensors matches numpy's quantisation of", len(names), "weights")
PY

# an int8 load packs the stored weights (test_kernels compares its embeddings with quantising at
# load, bit for bit); a file that does not quantise these weights is refused, naming it
cp conv/int8.safetensors good.safetensors
$PY - conv/int8.safetensors <<'PY'
import json, struct, sys
path = sys.argv[1]
raw = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
e = json.loads(raw[8:8 + n])["vision_model.encoder.layers.0.self_attn.q_proj.weight"]
at = 8 + n + e["data_offsets"][0]
raw[at] = (raw[at] + 64) % 256  # the first row's first weight, 64 steps away
open(path, "wb").write(raw)
PY
if "$GEOLABEL" bench --model conv --dtype int8 --runs 1 --json > b.json 2> b.err; then
  echo "a damaged int8.safetensors was accepted"; exit 1
fi
if grep -q "dtype int8: needs" b.err; then
  echo "note: this CPU lacks AVX512-VNNI; int8 loads are refused before the file is read"
else
  grep -q "conv/int8.safetensors: 'vision_model.encoder.layers.0.self_attn.q_proj.weight' row 0 does not quantise" b.err
  [ "$(wc -l < b.err)" -eq 1 ]
  cp good.safetensors conv/int8.safetensors
  "$GEOLABEL" bench --model conv --dtype int8 --runs 1 --json > b.json
  grep -q '"dtype":"int8"' b.json
fi

# an f32 convert into the same folder leaves no stale int8 file behind
"$GEOLABEL" model convert "$MODEL" -o conv > /dev/null
[ ! -e conv/int8.safetensors ]
# bf16 is packed at load, never stored
set +e
"$GEOLABEL" model convert "$MODEL" --dtype bf16 -o conv2 2> u.err; [ $? -eq 2 ] || exit 1
grep -q -- "--dtype is f32 or int8" u.err || exit 1
exit 0
