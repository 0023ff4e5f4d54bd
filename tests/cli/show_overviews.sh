#!/usr/bin/env bash
# show reads large scenes through their overviews, at the picture's size. The scene: a 20000 x 20000
# GeoTIFF whose full-resolution pixels are all 0 (gdal_create, sparse) and whose overviews (an
# external big.tif.ovr made from RGB.byte.tif, with its own 2/4/8 levels) hold a picture, so only
# an overview read shows it. The drawn scene must equal GDAL's own reduced read
# (gdal_translate -outsize -r average, which goes through the same overviews) outside the one small
# tile drawn over it; a full-resolution read would be black. Peak RSS is printed, and bounded.
set -eu
D=$GEOLABEL_SHARED/data/imagery
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time is not installed (Debian package time)"; exit 77; }
gdal_create -q -of GTiff -outsize 20000 20000 -bands 3 -co TILED=YES -co SPARSE_OK=YES big.tif
gdal_translate -q -of GTiff -outsize 5000 5000 -r bilinear -a_nodata none -co TILED=YES \
  "$D/RGB.byte.tif" big.tif.ovr
gdaladdo -q -r average big.tif.ovr 2 4 8
printf 'filename,row,col,left,upper,right,lower,classification\nbig.tif,0,0,0,400,400,0,a\n' > big.csv
/usr/bin/time -v -o time.txt "$GEOLABEL" show --labels big.csv --image big.tif -o big.png \
  --max-side 1000 --stretch none
# A GeoTIFF reference: GDAL writes it in one swath (a PNG is written row by row, and GDAL rounds
# each row's source window on its own).
gdal_translate -q -outsize 1000 1000 -r average big.tif ref.tif
"$PY" - <<'PYEOF'
import re
import numpy as np
from osgeo import gdal
got = gdal.Open("big.png").ReadAsArray()[:3, :1000, :1000].astype(int)
ref = gdal.Open("ref.tif").ReadAsArray().astype(int)
assert ref.shape == (3, 1000, 1000), ref.shape
keep = np.ones((1000, 1000), bool)
keep[:40, :40] = False  # the tile (0..400 of 20000 -> 0..20 px) and its outline
d = np.abs(got - ref)[:, keep]
assert ref[:, keep].mean() > 20, "the overview picture is not there: %.1f" % ref[:, keep].mean()
assert d.max() <= 1, "show's scene differs from gdal_translate -outsize -r average by %d" % d.max()
kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open("time.txt").read()).group(1))
print("show of 20000x20000 through overviews: equal to GDAL's, peak RSS %.0f MB" % (kb / 1024))
assert kb < 512 * 1024, kb
PYEOF
