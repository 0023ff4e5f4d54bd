#!/usr/bin/env bash
# A 36000 x 18000 COG with overviews (RGB.byte.tif scaled up by gdal_translate -outsize, JPEG,
# overviews made by the COG driver) labelled with --split 3x3: each 12000 x 6000 tile is read at
# reduced resolution (README "Large tiles": 4 x 224 = 896 on the shorter side, 1792 x 896), the
# run's peak RSS stays under 1 GB (/usr/bin/time -v), and every row equals `label` of GDAL's own
# reduced read of that tile (gdal_translate -srcwin ... -outsize 1792 896 -r average, read there
# at full size): same class, same score. The whole scene as one tile (--split 1x1) works too.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'sea\ncity\nfields\n' > classes.txt
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time is not installed (Debian package time)"; exit 77; }
gdal_translate -q -of COG -outsize 36000 18000 -r bilinear -a_nodata none -co COMPRESS=JPEG \
  -co QUALITY=80 "$D/RGB.byte.tif" big.tif
run() { "$GEOLABEL" -q label --model "$M" --classes classes.txt --stretch none "$@"; }

/usr/bin/time -v -o time.txt "$GEOLABEL" -q label --model "$M" --classes classes.txt \
  --stretch none --split 3x3 big.tif -o big.csv
/usr/bin/time -v -o time1.txt "$GEOLABEL" -q label --model "$M" --classes classes.txt \
  --stretch none --split 1x1 big.tif -o whole.csv

# GDAL's reduced read of each tile, at the rule's size worked out here.
"$PY" - <<'PYEOF'
import subprocess
W, H, side = 36000, 18000, 224
tw, th = W // 3, H // 3
short, long_ = min(tw, th), max(tw, th)
t = 4 * side
rl = int(long_ * t / short + 0.5)
rw, rh = (rl, t) if tw >= th else (t, rl)
assert (rw, rh) == (1792, 896)
for k in range(9):
    r, c = divmod(k, 3)
    subprocess.check_call(["gdal_translate", "-q", "-srcwin", str(c * tw), str(r * th), str(tw),
                           str(th), "-outsize", str(rw), str(rh), "-r", "average", "big.tif",
                           "tile_%d.tif" % k])
subprocess.check_call(["gdal_translate", "-q", "-outsize", "1792", "896", "-r", "average",
                       "big.tif", "whole_ref.tif"])
PYEOF
run --split 1x1 tile_0.tif tile_1.tif tile_2.tif tile_3.tif tile_4.tif tile_5.tif tile_6.tif \
  tile_7.tif tile_8.tif -o tiles.csv
run --split 1x1 whole_ref.tif -o whole_ref.csv

"$PY" - <<'PYEOF'
import csv, re
def rows(p):
    return list(csv.DictReader(open(p, newline="")))
def peak_kb(p):
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(p).read()).group(1))
big, ref = rows("big.csv"), rows("tiles.csv")
assert len(big) == 9 and len(ref) == 9, (len(big), len(ref))
for k, (b, r) in enumerate(zip(big, ref)):
    i, j = divmod(k, 3)
    got = tuple(int(b[c]) for c in ("row", "col", "left", "lower", "right", "upper"))
    assert got == (i, j, 12000 * j, 6000 * i, 12000 * (j + 1), 6000 * (i + 1)), (k, got)
    assert b["classification"] == r["classification"], (k, b["classification"], r["classification"])
    assert abs(float(b["score"]) - float(r["score"])) <= 1e-6, (k, b["score"], r["score"])
w, wr = rows("whole.csv"), rows("whole_ref.csv")
assert len(w) == 1 and w[0]["classification"] == wr[0]["classification"]
assert abs(float(w[0]["score"]) - float(wr[0]["score"])) <= 1e-6, (w[0]["score"], wr[0]["score"])
for p in ("time.txt", "time1.txt"):
    kb = peak_kb(p)
    print(p, "peak RSS %.0f MB" % (kb / 1024))
    assert kb < 1024 * 1024, (p, kb)
print("3x3 of 36000x18000: rows equal GDAL's reduced reads; peak RSS under 1 GB")
PYEOF
