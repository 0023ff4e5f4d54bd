#!/usr/bin/env bash
# --vlm-size makes the longer side of every patch the vision model gets S, whatever its shape: a
# portrait 300 x 900 tile whose width already equals S = 300 goes as 100 x 300 (it was sent
# whole), a landscape 900 x 300 one as 300 x 100, and a 200 x 300 one (longer side S) as it is.
# The loopback server decodes each PNG data URL with Pillow; sizes are checked there, and pixels
# against Pillow's own bilinear resize of the scene (GVL's resampling).
set -eu
. "$GEOLABEL_ROOT/tests/cli/llm_lib.inc"
export OPENAI_API_KEY="sk-geolabel-test-$(rand_hex)"
printf 'Water\nBuildings\nForest\nFarmland\n' > classes.txt
gdal_translate -q -of PNG -outsize 300 900 "$IMG/RGB.byte.tif" tall.png
gdal_translate -q -of PNG -outsize 900 300 "$IMG/RGB.byte.tif" wide.png
gdal_translate -q -of PNG -outsize 200 300 "$IMG/RGB.byte.tif" fit.png
cat > scenario.py <<'PYEOF'
import base64, os
API = "openai"
KEY = os.environ["OPENAI_API_KEY"]
PROMPT = "Detailed long description of the image: "
VISION = dict(model="vis-model", context="This is a satellite image", prompt=PROMPT,
              include_filename=False, include_classes=False, classes=[],
              stems=["tall", "wide", "fit"], image_size=None)
CLASSIFY = dict(model="cls-model", include_filename=False, tiles=[],
                levels=[["Water", "Buildings", "Forest", "Farmland"]],
                descriptions=[gvl_clean("Fields of wheat", PROMPT)])
def handle(n, kind, info):
    if kind == "vision":
        url = info["url"]
        with open("patch_%d.png" % n, "wb") as f:
            f.write(base64.b64decode(url[url.index(",") + 1:]))
        return "Fields of wheat"
    return "Farmland"
PYEOF
start_server scenario.py
"$GEOLABEL" -q label --model "$M" --classes classes.txt --stretch none tall.png wide.png fit.png \
  --classifier-type vlm-llm --vlm-model vis-model --llm-model cls-model --llm-api openai \
  --llm-base-url "$BASE" --context "This is a satellite image" --vlm-size 300 -o out.csv
no_violations
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
