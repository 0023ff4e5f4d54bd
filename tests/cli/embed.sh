#!/usr/bin/env bash
# embed: image and text embeddings from both fixture models against transformers' outputs in
# fixtures/expected (.npy and .jsonl, raw and --normalize, several --batch/--threads settings).
set -eu
F=$GEOLABEL_SHARED/fixtures
E=$F/expected
# PNGs decode exactly with any correct decoder; the JPEGs depend on libjpeg-turbo's IDCT.
PNGS="$E/images/01_chelsea.png $E/images/03_camera_gray.png $E/images/04_tall_rgba_97x263.png $E/images/05_tiny_5x7.png"
ROWS="1,3,4,5"

compare() { # got.npy expected.npy rows|all
  "$PY" - "$@" <<'PYEOF'
import sys, numpy as np
got, exp = np.load(sys.argv[1]), np.load(sys.argv[2])
if sys.argv[3] != "all":
    exp = exp[[int(r) for r in sys.argv[3].split(",")]]
assert got.dtype == np.float32 and got.shape == exp.shape, (got.dtype, got.shape, exp.shape)
bad = np.abs(got - exp) > 5e-5 + 5e-5 * np.abs(exp)
assert not bad.any(), ("max diff", np.abs(got - exp).max())
PYEOF
}

for m in clip-tiny-b32 clip-tiny-l14-336; do
  "$GEOLABEL" embed --model "$F/$m" $PNGS -o img.npy
  compare img.npy "$E/$m/image_embeds.npy" "$ROWS"
  "$GEOLABEL" embed --model "$F/$m" --normalize --batch 3 --threads 2 $PNGS -o imgn.npy
  compare imgn.npy "$E/$m/image_embeds_normalized.npy" "$ROWS"
  "$GEOLABEL" embed --model "$F/$m" --batch 1 --threads 1 $PNGS -o img.jsonl
  "$PY" - img.jsonl "$E/$m/image_embeds.npy" $PNGS <<'PYEOF'
import sys, json, base64, numpy as np
exp = np.load(sys.argv[2])[[1, 3, 4, 5]]
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert len(lines) == 4, len(lines)
for i, line in enumerate(lines):
    o = json.loads(line)
    assert o["id"] == sys.argv[3 + i], (o["id"], sys.argv[3 + i])
    v = np.frombuffer(base64.b64decode(o["embeddings"]), dtype="<f4")
    assert v.shape == (32,) and np.all(np.abs(v - exp[i]) <= 5e-5 + 5e-5 * np.abs(exp[i])), i
PYEOF
  # texts 0, 1, 6 (empty) and 9 of texts.json
  "$PY" -c 'import json,sys; t=json.load(open(sys.argv[1])); [sys.stdout.write(t[i]+"\0") for i in (0,1,6,9)]' "$E/texts.json" > texts.bin
  xargs -0 "$GEOLABEL" embed --model "$F/$m" --text --batch 2 -o txt.npy < texts.bin
  compare txt.npy "$E/$m/text_embeds.npy" "0,1,6,9"
  xargs -0 "$GEOLABEL" embed --model "$F/$m" --text --normalize -o txtn.npy < texts.bin
  compare txtn.npy "$E/$m/text_embeds_normalized.npy" "0,1,6,9"
done

# A wider random model (widths 320/288, 5 heads, not powers of two) exercises the GEMM tiling the
# tiny fixtures cannot; bench/torch_clip.py (a plain-PyTorch forward that reproduces the fixtures
# above, run here on them first) is the reference.
TORCH_CLIP=${GEOLABEL_ROOT:-$(dirname "$0")/../..}/bench/torch_clip.py
OPENBLAS_CORETYPE=SKYLAKEX "$PY" "$TORCH_CLIP" random wide wide-test 7
cp "$F/clip-tiny-b32/vocab.json" "$F/clip-tiny-b32/merges.txt" "$F/clip-tiny-b32/preprocessor_config.json" wide/
"$PY" -c 'import numpy as np, sys; np.save("px.npy", np.load(sys.argv[1])[[1,3,4,5]])' "$E/clip-tiny-b32/pixel_values.npy"
"$PY" -c 'import numpy as np, sys; np.save("ids.npy", np.load(sys.argv[1])[[0,1,6,9]])' "$E/input_ids.npy"

# BF16 weights (the fixture's F32 rounded to nearest even) plus the int64 position_ids buffers older
# Hub checkpoints carry, which must be ignored; the reference reads the same file independently.
# F16 the same way (numpy's rounding), and f16w: those F16 values widened, stored as F32.
half_copy() { # DTYPE(bf16|f16|f16w) DIR
"$PY" - "$F/clip-tiny-b32" "$2" "$1" <<'PYEOF'
import json, os, shutil, struct, sys
import numpy as np
src, dst, kind = sys.argv[1:]
shutil.copytree(src, dst)
os.chmod(dst, 0o755)
raw = open(os.path.join(src, "model.safetensors"), "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
out, blobs, off = {}, [], 0
for name in sorted(k for k in hdr if k != "__metadata__"):
    b, e = hdr[name]["data_offsets"]
    if kind == "bf16":
        bits = np.frombuffer(raw[8 + n + b:8 + n + e], np.uint32).astype(np.uint64)
        bf = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16).tobytes()
    else:
        bf = np.frombuffer(raw[8 + n + b:8 + n + e], np.float32).astype(np.float16)
        bf = (bf.astype(np.float32) if kind == "f16w" else bf).tobytes()
    dt = {"bf16": "BF16", "f16": "F16", "f16w": "F32"}[kind]
    out[name] = {"dtype": dt, "shape": hdr[name]["shape"], "data_offsets": [off, off + len(bf)]}
    blobs.append(bf)
    off += len(bf)
for name, count in (("text_model.embeddings.position_ids", 77), ("vision_model.embeddings.position_ids", 50)):
    ids = np.arange(count, dtype=np.int64).reshape(1, count).tobytes()
    out[name] = {"dtype": "I64", "shape": [1, count], "data_offsets": [off, off + len(ids)]}
    blobs.append(ids)
    off += len(ids)
h = json.dumps(out, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
path = os.path.join(dst, "model.safetensors")
os.chmod(path, 0o644)
open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
PYEOF
}
half_copy bf16 bf16
half_copy f16 f16
half_copy f16w f16w

# every reference in one PyTorch process (each start costs seconds)
OPENBLAS_CORETYPE=SKYLAKEX "$PY" "$TORCH_CLIP" \
  images "$F/clip-tiny-b32" "$E/clip-tiny-b32/pixel_values.npy" ref_b32.npy \
  images "$F/clip-tiny-l14-336" "$E/clip-tiny-l14-336/pixel_values.npy" ref_l14.npy \
  images wide px.npy ref_wide_img.npy texts wide ids.npy ref_wide_txt.npy \
  images bf16 px.npy ref_bf16_img.npy texts bf16 ids.npy ref_bf16_txt.npy \
  texts f16 ids.npy ref_f16_txt.npy
compare ref_b32.npy "$E/clip-tiny-b32/image_embeds.npy" all
compare ref_l14.npy "$E/clip-tiny-l14-336/image_embeds.npy" all

for bt in "1 1" "4 2" "3 2"; do
  set -- $bt
  "$GEOLABEL" embed --model wide --batch "$1" --threads "$2" $PNGS -o img.npy
  compare img.npy ref_wide_img.npy all
  xargs -0 "$GEOLABEL" embed --model wide --text --batch "$1" --threads "$2" -o txt.npy < texts.bin
  compare txt.npy ref_wide_txt.npy all
done
"$GEOLABEL" embed --model bf16 --batch 3 --threads 2 $PNGS -o img.npy
compare img.npy ref_bf16_img.npy all
xargs -0 "$GEOLABEL" embed --model bf16 --text -o txt.npy < texts.bin
compare txt.npy ref_bf16_txt.npy all
# F16: text embeddings against PyTorch on the same F16 weights, and bit for bit those of the same
# values stored as F32 (the token embedding's rows are widened as they are looked up; widening is
# exact, so nothing may change)
xargs -0 "$GEOLABEL" embed --model f16 --text --batch 3 --threads 2 -o txt16.npy < texts.bin
compare txt16.npy ref_f16_txt.npy all
xargs -0 "$GEOLABEL" embed --model f16w --text --batch 3 --threads 2 -o txt16w.npy < texts.bin
"$PY" -c 'import numpy as np, sys; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]); assert a.shape == (4, 32) and np.array_equal(a, b), np.abs(a - b).max()' txt16.npy txt16w.npy

# usage errors and unsupported outputs fail without writing anything
if "$GEOLABEL" embed --model "$F/clip-tiny-b32" $PNGS -o out.txt 2>err.txt; then exit 1; fi
grep -q "out.txt" err.txt
[ ! -e out.txt ]
if "$GEOLABEL" embed --model "$F/clip-tiny-b32" -o out.npy 2>/dev/null; then exit 1; fi
if "$GEOLABEL" embed --model "$F/clip-tiny-b32" "$E/images/missing.png" -o out.npy 2>err.txt; then exit 1; fi
grep -q "missing.png" err.txt
[ ! -e out.npy ]
# images decode in parallel; the first failure in input order is the one reported
echo "not an image" > garbage.png
if "$GEOLABEL" embed --model "$F/clip-tiny-b32" --threads 2 $PNGS garbage.png "$E/images/missing.png" -o out.npy 2>err.txt; then exit 1; fi
grep -q "garbage.png" err.txt
[ "$(wc -l < err.txt)" -eq 1 ]
[ ! -e out.npy ]
echo ok
