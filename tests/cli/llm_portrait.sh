#!/usr/bin/env bash
# --vlm-size makes the longer side of every patch the vision model gets S, whatever its shape: a
# portrait 300 x 900 tile whose width already equals S = 300 goes as 100 x 300 (it was sent
# whole), a landscape 900 x 300 one as 300 x 100, and a 200 x 300 one (longer side S) as it is.
# The loopback server decodes each PNG data URL with Pillow; sizes are checked there, and pixels
# against Pillow's own bilinear resize of the scene (GVL's resampling).
set -eu
. "$GEOLABEL_ROOT/tests/cli/llm_lib.inc"
gdal_translate -q -of PNG -outsize 300 900 "$IMG/RGB.byte.tif" tall.png
gdal_translate -q -of PNG -outsize 900 300 "$IMG/RGB.byte.tif" wide.png
gdal_translate -q -of PNG -outsize 200 300 "$IMG/RGB.byte.tif" fit.png
start_patch_server tall wide fit
label_patches --vlm-size 300 tall.png wide.png fit.png
$PY - <<'PYEOF'
import glob
import numpy as np
from PIL import Image
want = {(100, 300): "tall.png", (300, 100): "wide.png", (200, 300): "fit.png"}
got = {}
for p in sorted(glob.glob("patch_*.png")):
    im = Image.open(p)
    assert im.format == "PNG" and im.mode == "RGB", (p, im.format, im.mode)
    got[im.size] = np.asarray(im, dtype=int)
assert sorted(got) == sorted(want), sorted(got)
for size, src in want.items():
    ref = np.asarray(Image.open(src).convert("RGB").resize(size, Image.BILINEAR), dtype=int)
    d = np.abs(got[size] - ref)
    assert d.max() <= 2, (src, size, d.max(), d.mean())
print("patches:", sorted(got))
PYEOF
