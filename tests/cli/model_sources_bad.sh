#!/usr/bin/env bash
# Broken checkpoints of every source form, made here with torch itself from the fixtures: each
# load fails with exit 1 and one line naming the file and the problem, and nothing in a pickle
# runs. Cases: unknown keys, missing keys (the first few named), a shape that disagrees with the
# architecture, a config that disagrees with the weights, a pickle global outside the allow-list,
# a zip entry that lies about its size, a truncated file, a ResNet vision tower.
set -eu
F=$GEOLABEL_SHARED/fixtures
IMG=$F/expected/images/01_chelsea.png
"$PY" -c 'import torch' 2>/dev/null || { echo "SKIP: Debian's python3-torch is not installed"; exit 77; }

expect_fail() { # [--rc=N] needle... -- geolabel embed arguments (exit 1 unless --rc)
  want=1
  case $1 in --rc=*) want=${1#--rc=}; shift ;; esac
  needles=()
  while [ "$1" != "--" ]; do needles+=("$1"); shift; done
  shift
  rc=0
  "$GEOLABEL" embed "$@" "$IMG" -o out.npy 2>err.txt || rc=$?
  [ "$rc" -eq "$want" ] || { echo "exit $rc for $*"; cat err.txt; exit 1; }
  [ "$(wc -l < err.txt)" -eq 1 ] || { echo "not one line for $*"; cat err.txt; exit 1; }
  for n in "${needles[@]}"; do
    grep -qF -- "$n" err.txt || { echo "no '$n' for $*"; cat err.txt; exit 1; }
  done
  if grep -qE "Sanitizer|runtime error" err.txt; then exit 1; fi
  [ ! -e out.npy ]
}

hf() { rm -rf "$1"; cp -r "$F/clip-tiny-b32-torchbin" "$1"; chmod -R u+w "$1"; }
oc() { rm -rf "$1"; cp -r "$F/openclip/openclip-tiny-quickgelu" "$1"; chmod -R u+w "$1"; }
edit() { # file python-statements-on-sd: load a state dict, change it, save it back
  "$PY" - "$1" "$2" <<'PY'
import sys, torch
path, code = sys.argv[1], sys.argv[2]
sd = torch.load(path, map_location="cpu")
exec(code)
torch.save(sd, path)
PY
}

# unknown keys
hf unknown
edit unknown/pytorch_model.bin 'sd["vision_model.extra.weight"] = torch.zeros(3)'
expect_fail unknown/pytorch_model.bin "1 unknown tensor" "'vision_model.extra.weight'" -- --model unknown

# missing keys: five gone, the first three named, the count given
hf missing
edit missing/pytorch_model.bin '
for k in sorted(k for k in sd if k.startswith("text_model.encoder.layers.1.mlp") or k == "logit_scale")[:5]:
    del sd[k]'
expect_fail missing/pytorch_model.bin "5 required tensors are missing" "and 2 more" -- --model missing

# one missing tensor in open_clip naming
oc ocmissing
edit ocmissing/open_clip_pytorch_model.bin 'del sd["visual.ln_post.bias"]'
expect_fail ocmissing/open_clip_pytorch_model.bin "'visual.ln_post.bias' is missing" -- --model ocmissing

# a shape against the architecture, in the file's own names
oc ocshape
edit ocshape/open_clip_pytorch_model.bin 'sd["visual.proj"] = sd["visual.proj"][:, :16].clone()'
expect_fail ocshape/open_clip_pytorch_model.bin "'visual.proj'" "[128,16]" "open_clip_config.json implies [128,32]" -- --model ocshape

# a config that disagrees with the weights: three layers claimed, two stored
oc layers
"$PY" - layers/open_clip_config.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["model_cfg"]["vision_cfg"]["layers"] = 3
json.dump(c, open(sys.argv[1], "w"))
PY
expect_fail layers/open_clip_pytorch_model.bin "required tensors are missing" "visual.transformer.resblocks.2." "open_clip_config.json" -- --model layers
# ... and a width that disagrees, through --arch on the training checkpoint
"$PY" - "$F/openclip/openclip-tiny-gelu/openclip-tiny-gelu.json" wide.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["model_cfg"]["text_cfg"]["width"] = 128
json.dump(c, open(sys.argv[2], "w"))
PY
expect_fail epoch_3.pt "'module.token_embedding.weight'" "wide.json implies [49408,128]" -- \
  --model "$F/openclip/openclip-tiny-gelu/epoch_3.pt" --arch wide.json

# a pickle naming a global outside the allow-list: refused by name, never called
"$PY" - evil.pt <<'PY'
import os, sys, torch
class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))
torch.save({"state_dict": {"logit_scale": torch.zeros(())}, "x": Evil()}, sys.argv[1])
PY
expect_fail evil.pt "system" -- --model evil.pt --arch ViT-B-32
[ ! -e pwned ]

# a zip entry whose central directory lies about its size
hf lie
"$PY" - lie/pytorch_model.bin <<'PY'
import struct, sys, zipfile
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
z = zipfile.ZipFile(p)
info = max(z.infolist(), key=lambda i: i.file_size)  # the biggest storage
name = info.filename.encode()
at = b.rfind(b"PK\x01\x02" + b"\x00" * 0, 0)  # find this entry's central record by its name
at = b.find(name, b.find(b"PK\x01\x02"))
rec = at - 46
assert b[rec:rec + 4] == b"PK\x01\x02"
size = struct.unpack_from("<I", b, rec + 24)[0]
struct.pack_into("<I", b, rec + 24, size + 4096)  # uncompressed size claims more than stored
open(p, "wb").write(b)
PY
expect_fail lie/pytorch_model.bin "differing sizes" -- --model lie

# truncated
hf trunc
truncate -s 1000000 trunc/pytorch_model.bin
expect_fail trunc/pytorch_model.bin -- --model trunc

# open_clip's ModifiedResNet (RN50): a clear "not supported yet"
"$PY" - rn.pt <<'PY'
import sys, torch
torch.save({"visual.conv1.weight": torch.zeros(32, 3, 3, 3), "visual.layer1.0.conv1.weight": torch.zeros(64, 64, 1, 1),
            "token_embedding.weight": torch.zeros(10, 8)}, sys.argv[1])
PY
expect_fail rn.pt "ModifiedResNet" "not supported yet" -- --model rn.pt --arch ViT-B-32
# ... and its config alone says so too
printf '{"embed_dim": 1024, "vision_cfg": {"image_size": 224, "layers": [3, 4, 6, 3], "width": 64}, "text_cfg": {}}' > RN50.json
expect_fail RN50.json "not supported yet" -- --model rn.pt --arch RN50.json

# an unknown architecture name and a checkpoint without one: usage errors (exit 2)
expect_fail --rc=2 "ViT-Q-99" "shipped open_clip architecture" -- --model "$F/openclip/openclip-tiny-gelu/epoch_3.pt" --arch ViT-Q-99
expect_fail --rc=2 "epoch_3.pt" "needs --arch" -- --model "$F/openclip/openclip-tiny-gelu/epoch_3.pt"
echo ok
