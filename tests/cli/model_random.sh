#!/usr/bin/env bash
# geolabel model random: the safetensors header read with Python's struct and json, tensor names
# and shapes against CLIPModel.state_dict() as the architecture defines it (written out here),
# config and preprocessor JSON, the shipped BPE files, and `geolabel embed` on the result.
set -euo pipefail
DATA=${GEOLABEL_DATA:-$(dirname "$GEOLABEL")/../data}

check() { # like dtype dir
  $PY - "$1" "$2" "$3" <<'PY'
import json, math, struct, sys, os
like, dtype, d = sys.argv[1:]
# (vision width, layers, heads, mlp, patch, image), (text width, heads, layers, mlp), projection
G = {"vit-b-32": ((768, 12, 12, 3072, 32, 224), (512, 8, 12, 2048), 512),
     "vit-b-16": ((768, 12, 12, 3072, 16, 224), (512, 8, 12, 2048), 512),
     "vit-l-14": ((1024, 24, 16, 4096, 14, 224), (768, 12, 12, 3072), 768),
     "vit-l-14-336": ((1024, 24, 16, 4096, 14, 336), (768, 12, 12, 3072), 768)}
(vw, vl, vh, vm, p, s), (tw, th, tl, tm), proj = G[like]
want = {}
def layers(tower, n, w, m):
    for i in range(n):
        pre = f"{tower}.encoder.layers.{i}."
        for x in ("q_proj", "k_proj", "v_proj", "out_proj"):
            want[pre + f"self_attn.{x}.weight"] = [w, w]; want[pre + f"self_attn.{x}.bias"] = [w]
        for x in ("layer_norm1", "layer_norm2"):
            want[pre + f"{x}.weight"] = [w]; want[pre + f"{x}.bias"] = [w]
        want[pre + "mlp.fc1.weight"] = [m, w]; want[pre + "mlp.fc1.bias"] = [m]
        want[pre + "mlp.fc2.weight"] = [w, m]; want[pre + "mlp.fc2.bias"] = [w]
want["text_model.embeddings.token_embedding.weight"] = [49408, tw]
want["text_model.embeddings.position_embedding.weight"] = [77, tw]
layers("text_model", tl, tw, tm)
want["text_model.final_layer_norm.weight"] = [tw]; want["text_model.final_layer_norm.bias"] = [tw]
want["vision_model.embeddings.class_embedding"] = [vw]
want["vision_model.embeddings.patch_embedding.weight"] = [vw, 3, p, p]
want["vision_model.embeddings.position_embedding.weight"] = [(s // p) ** 2 + 1, vw]
for x in ("pre_layrnorm", "post_layernorm"):
    want[f"vision_model.{x}.weight"] = [vw]; want[f"vision_model.{x}.bias"] = [vw]
layers("vision_model", vl, vw, vm)
want["visual_projection.weight"] = [proj, vw]
want["text_projection.weight"] = [proj, tw]
want["logit_scale"] = []

path = os.path.join(d, "model.safetensors")
size = os.path.getsize(path)
f = open(path, "rb")
n = struct.unpack("<Q", f.read(8))[0]
assert n % 8 == 0 and 8 + n <= size, n
header = json.loads(f.read(n))
assert header.pop("__metadata__") == {"format": "pt"}
assert set(header) == set(want), (set(want) ^ set(header))
item = {"F32": 4, "F16": 2}[{"f32": "F32", "f16": "F16"}[dtype]]
spans = []
for k, e in header.items():
    assert e["shape"] == want[k], (k, e["shape"], want[k])
    assert e["dtype"] == {"f32": "F32", "f16": "F16"}[dtype], (k, e["dtype"])
    a, b = e["data_offsets"]
    assert b - a == item * math.prod(want[k]), k
    spans.append((a, b))
spans.sort()
assert spans[0][0] == 0 and spans[-1][1] == size - 8 - n
assert all(x[1] == y[0] for x, y in zip(spans, spans[1:]))
# values: LayerNorm weights 1, logit_scale 2.6592, weights with std near 0.02
import numpy as np
def read(k):
    a, b = header[k]["data_offsets"]; f.seek(8 + n + a)
    return np.frombuffer(f.read(b - a), dtype=np.float16 if item == 2 else np.float32).astype(np.float64)
assert (read("vision_model.pre_layrnorm.weight") == 1).all()
assert abs(read("logit_scale")[0] - 2.6592) < 2e-3
w = read("text_model.encoder.layers.0.mlp.fc1.weight")
assert abs(w.std() - 0.02) < 1e-3 and abs(w.mean()) < 1e-3, (w.mean(), w.std())

c = json.load(open(os.path.join(d, "config.json")))
assert c["model_type"] == "clip" and c["projection_dim"] == proj and c["architectures"] == ["CLIPModel"]
v, t = c["vision_config"], c["text_config"]
assert (v["hidden_size"], v["num_hidden_layers"], v["num_attention_heads"], v["intermediate_size"],
        v["patch_size"], v["image_size"]) == (vw, vl, vh, vm, p, s)
assert (t["hidden_size"], t["num_attention_heads"], t["num_hidden_layers"], t["intermediate_size"],
        t["vocab_size"], t["max_position_embeddings"], t["eos_token_id"]) == (tw, th, tl, tm, 49408, 77, 49407)
assert v["hidden_act"] == t["hidden_act"] == "quick_gelu" and v["projection_dim"] == t["projection_dim"] == proj
pp = json.load(open(os.path.join(d, "preprocessor_config.json")))
assert pp["size"] == {"shortest_edge": s} and pp["crop_size"] == {"height": s, "width": s}
assert pp["image_mean"] == [0.48145466, 0.4578275, 0.40821073] and pp["resample"] == 3
PY
  cmp "$DATA/clip-bpe/vocab.json" "$3/vocab.json"
  cmp "$DATA/clip-bpe/merges.txt" "$3/merges.txt"
}

"$GEOLABEL" model random --like vit-b-32 -o b32 --seed 7
check vit-b-32 f32 b32
"$GEOLABEL" model random --like vit-l-14-336 -o l14 --dtype f16
check vit-l-14-336 f16 l14
rm -rf l14

# a bad geometry or dtype is a usage error naming it
if "$GEOLABEL" model random --like vit-h-14 -o x 2> err.txt; then exit 1; fi
grep -q "vit-h-14: unknown geometry" err.txt
if "$GEOLABEL" model random --like vit-b-32 --dtype bf8 -o x 2> err.txt; then exit 1; fi
grep -q -- "--dtype is f32 or f16 (how the weights are stored), not 'bf8'" err.txt

# the CLIP engine loads it and embeds an image and a text (a visible skip, exit 77, only when the
# embed command is not built into this binary)
set +e
"$GEOLABEL" embed --model b32 "$GEOLABEL_SHARED/fixtures/expected/images/00_rocket.jpg" -o img.npy 2> err.txt
rc=$?
set -e
if grep -q "not built" err.txt; then echo "embed is not built in this binary"; exit 77; fi
[ $rc -eq 0 ] || { cat err.txt; exit 1; }
"$GEOLABEL" embed --model b32 --text "a photo of a rocket" -o txt.npy
$PY - <<'PY'
import numpy as np
for name in ("img.npy", "txt.npy"):
    x = np.load(name)
    assert x.shape == (1, 512) and x.dtype == np.float32, (name, x.shape, x.dtype)
    assert np.isfinite(x).all() and 0 < np.linalg.norm(x) < 1e3, (name, np.linalg.norm(x))
PY
echo ok
