#!/usr/bin/env bash
# The vision model sees a large tile as label reads it: a 9000 x 6000 COG with overviews split 3x3
# (3000 x 2000 tiles, read at 1344 x 896 by the README's rule), --vlm-size 0 (the patch as read).
# Every PNG the loopback server received is compared with numpy against GDAL's own reduced read of
# its tile (gdal_translate -srcwin ... -outsize 1344 896 -r average): each patch matches exactly
# one tile, within one level.
set -eu
. "$GEOLABEL_ROOT/tests/cli/llm_lib.inc"
gdal_translate -q -of COG -outsize 9000 6000 -r bilinear -a_nodata none -co COMPRESS=JPEG \
  "$IMG/RGB.byte.tif" big.tif
start_patch_server big
label_patches --split 3x3 --vlm-size 0 big.tif
# GeoTIFF references: GDAL writes them in one swath (a PNG row by row, each row's source window
# rounded on its own).
for k in 0 1 2 3 4 5 6 7 8; do
  gdal_translate -q -srcwin $(( (k % 3) * 3000 )) $(( (k / 3) * 2000 )) 3000 2000 \
    -outsize 1344 896 -r average big.tif ref_$k.tif
done
$PY - <<'PYEOF'
import csv, glob
import numpy as np
from PIL import Image
from osgeo import gdal
rows = list(csv.DictReader(open("out.csv", newline="")))
assert len(rows) == 9 and all(r["classification"] == "Farmland" for r in rows), rows
patches = [np.asarray(Image.open(p).convert("RGB"), dtype=int) for p in sorted(glob.glob("patch_*.png"))]
refs = [gdal.Open("ref_%d.tif" % k).ReadAsArray().transpose(1, 2, 0).astype(int) for k in range(9)]
assert len(patches) == 9, len(patches)
matched = set()
for i, p in enumerate(patches):
    assert p.shape == (896, 1344, 3), p.shape
    diffs = [np.abs(p - r).max() for r in refs]
    k = int(np.argmin(diffs))
    assert diffs[k] <= 1 and k not in matched, (i, diffs)
    matched.add(k)
print("9 vision patches equal GDAL's reduced reads of their tiles")
PYEOF
