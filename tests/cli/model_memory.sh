#!/usr/bin/env bash
# Loading a model keeps the packed weights resident, not the file beside them (issue 11): a random
# full-size ViT-B/32 as model.safetensors (F32, and F16), pytorch_model.bin and an open_clip
# training checkpoint peaks (/usr/bin/time -v) below its packed weights plus 200 MB, in f32 and,
# where the CPU runs them, bf16 and int8; `label`, which also digests every weight for its
# manifest, too. Before, the mapped file stayed resident after packing (F32 1.1 GB: packed size +
# 600 MB; F16 with a widened f32 copy, 1.4 GB). An F16 file keeps its token embedding in F16, rows
# widened as texts look them up, so it peaks within 40 MB of the F32 file (before: a widened f32
# copy of the table, 97 MB for ViT-B/32: 636 vs 534 MB). The packed sizes come from the tensor shapes in
# the safetensors header, read here with Python's struct and json; the other forms are written
# from it with numpy and torch.save.
set -euo pipefail
IMG=$GEOLABEL_SHARED/fixtures/expected/images/00_rocket.jpg
MARGIN_MB=200
# ASan's quarantine keeps freed blocks (each int8 weight's quantised rows while it is packed)
# resident: a sanitizer's memory, not ours (ignored by the normal build)
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8
fail() { echo "FAIL: $*"; exit 1; }

"$GEOLABEL" model random --like vit-b-32 -o st > /dev/null 2> random.log
"$GEOLABEL" model random --like vit-b-32 --dtype f16 -o f16 > /dev/null 2> random.log

# packed MB for a dtype (widened: plus the other weights of an F16 file, which are widened to
# f32 and kept, all but the token embedding): every encoder linear weight and the patch embedding in the tower's
# dtype (int8 keeps the text tower in f32; int8 adds a scale and a column sum per output), the
# projections in f32, rows padded to panels of 32 outputs
packed_mb() {
  "$PY" - st/model.safetensors "$1" "${2:-}" <<'PY'
import json, struct, sys
path, dtype, widened = sys.argv[1:]
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    head = json.loads(f.read(n))
total = 0
for name, t in head.items():
    if name == "__metadata__":
        continue
    linear = ".encoder.layers." in name and name.endswith(
        ("q_proj.weight", "k_proj.weight", "v_proj.weight", "out_proj.weight", "fc1.weight", "fc2.weight"))
    patch = name == "vision_model.embeddings.patch_embedding.weight"
    proj = name in ("visual_projection.weight", "text_projection.weight")
    if not (linear or patch or proj):
        if widened and name != "text_model.embeddings.token_embedding.weight":
            k = 1
            for d in t["shape"]:
                k *= d
            total += 4 * k
        continue
    rows = -(-t["shape"][0] // 32) * 32
    k = 1
    for d in t["shape"][1:]:
        k *= d
    eff = "f32" if proj or (dtype == "int8" and name.startswith("text_model.")) else dtype
    total += rows * k * {"f32": 4, "bf16": 2, "int8": 1}[eff] + (8 * rows if eff == "int8" else 0)
print(total >> 20)
PY
}

# the same weights as pytorch_model.bin (HF names) and as an open_clip checkpoint (open_clip
# names: in_proj stacking q, k, v; projections transposed; "module." as DDP saves them)
"$PY" - st <<'PY'
import json, os, shutil, struct, sys
import numpy as np, torch
src = sys.argv[1]
with open(f"{src}/model.safetensors", "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    head = json.loads(f.read(n))
raw = np.memmap(f"{src}/model.safetensors", dtype=np.uint8, mode="r", offset=8 + n)
sd = {}
for k, v in head.items():
    if k != "__metadata__":
        a, b = v["data_offsets"]
        sd[k] = torch.from_numpy(np.array(raw[a:b]).view(np.float32).reshape(v["shape"]))
os.makedirs("bin")
for f in ("config.json", "merges.txt", "vocab.json", "preprocessor_config.json"):
    shutil.copy(f"{src}/{f}", "bin")
torch.save(sd, "bin/pytorch_model.bin")
top = {"vision_model.embeddings.class_embedding": "visual.class_embedding",
       "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
       "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
       "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight",
       "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
       "vision_model.post_layernorm.weight": "visual.ln_post.weight",
       "vision_model.post_layernorm.bias": "visual.ln_post.bias",
       "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
       "text_model.embeddings.position_embedding.weight": "positional_embedding",
       "text_model.final_layer_norm.weight": "ln_final.weight",
       "text_model.final_layer_norm.bias": "ln_final.bias", "logit_scale": "logit_scale"}
sub = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "self_attn.out_proj": "attn.out_proj",
       "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
oc = {"visual.proj": sd["visual_projection.weight"].t().contiguous(),
      "text_projection": sd["text_projection.weight"].t().contiguous()}
for k, v in sd.items():
    if k in top:
        oc[top[k]] = v
    for hf, pre in (("vision_model.encoder.layers.", "visual.transformer.resblocks."),
                    ("text_model.encoder.layers.", "transformer.resblocks.")):
        if not k.startswith(hf):
            continue
        i, rest = k[len(hf):].split(".", 1)
        mod, wb = rest.rsplit(".", 1)
        if mod == "self_attn.q_proj":
            oc[f"{pre}{i}.attn.in_proj_{wb}"] = torch.cat(
                [sd[f"{hf}{i}.self_attn.{x}_proj.{wb}"] for x in "qkv"])
        elif mod in sub:
            oc[f"{pre}{i}.{sub[mod]}.{wb}"] = v
assert len(oc) == len(sd) - 2 * 2 * 24, len(oc)  # k and v (weight, bias) fold into in_proj
torch.save({"epoch": 1, "state_dict": {"module." + k: v for k, v in oc.items()}}, "epoch_1.pt")
PY

# peak TAG BOUND_MB CMD...: runs CMD under /usr/bin/time -v; its peak RSS must stay below BOUND_MB
peak() {
  local tag=$1 bound=$2; shift 2
  /usr/bin/time -v "$@" > /dev/null 2> "$tag.time" || { tail -n 25 "$tag.time"; fail "$tag: $*"; }
  local kb
  kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tag.time")
  echo "$tag: peak RSS $((kb / 1024)) MB (bound $bound MB)"
  LAST_MB=$((kb / 1024))
  [ "$((kb / 1024))" -lt "$bound" ] || fail "$tag: peak RSS $((kb / 1024)) MB >= $bound MB"
}
bench=("$GEOLABEL" bench --tower text --tokens 8 --batch 1 --threads 1 --runs 1)

f32=$(($(packed_mb f32) + MARGIN_MB))
echo "packed f32 weights $((f32 - MARGIN_MB)) MB"
peak st-f32 "$f32" "${bench[@]}" --model st
st_f32=$LAST_MB
peak f16-f32 "$(($(packed_mb f32 widened) + MARGIN_MB))" "${bench[@]}" --model f16
# same packed weights: the F16 file may only add its few small widened tensors and the
# token rows it reads, not a widened table
[ "$LAST_MB" -le "$((st_f32 + 40))" ] || fail "F16 file: $LAST_MB MB, F32 file $st_f32 MB (+40 allowed)"
peak bin-f32 "$f32" "${bench[@]}" --model bin
peak oc-f32 "$f32" "${bench[@]}" --model epoch_1.pt --arch ViT-B-32-quickgelu
printf 'forest\nwater\nairport\n' > classes.txt
peak st-label "$f32" "$GEOLABEL" label --model st --classes classes.txt "$IMG" -o l.csv
grep -q '"model_hash":"[0-9a-f]\{32\}"' l.csv.manifest.json || fail "no model hash in the manifest"

ran=0
for dt in bf16 int8; do
  # an AVX2-only CPU refuses these dtypes with a message, which is then all there is to check
  if ! "${bench[@]}" --model st --dtype "$dt" > /dev/null 2> refuse.txt; then
    grep -q "dtype $dt: needs" refuse.txt || { cat refuse.txt; fail "$dt refused"; }
    echo "$dt: not run, $(cat refuse.txt)"
    continue
  fi
  b=$(($(packed_mb "$dt") + MARGIN_MB))
  [ "$b" -lt "$f32" ] || fail "$dt packs no smaller than f32"
  peak "st-$dt" "$b" "${bench[@]}" --model st --dtype "$dt"
  st_dt=$LAST_MB
  peak "f16-$dt" "$(($(packed_mb "$dt" widened) + MARGIN_MB))" "${bench[@]}" --model f16 --dtype "$dt"
  [ "$LAST_MB" -le "$((st_dt + 40))" ] || fail "F16 file $dt: $LAST_MB MB, F32 file $st_dt MB (+40 allowed)"
  peak "bin-$dt" "$b" "${bench[@]}" --model bin --dtype "$dt"
  ran=$((ran + 1))
done
echo "ok ($ran low-precision dtypes run)"
