#!/usr/bin/env bash
# A large COG with overviews over HTTP (issue 14): nginx (tests/lib/nginx.sh, loopback, stopped by
# PID) serves a 16000 x 12000 JPEG COG made here from a real photo (tens of MB); `label --split 3x3`
# on its http:// and https:// URLs reads each 5333 x 4000 tile at reduced resolution through the
# overviews, so the bytes nginx sent for it (the access log's $body_bytes_sent, every GET a range
# request) total less than half the file, and the rows equal the local file's (Python csv).
set -eu
. "$GEOLABEL_ROOT/tests/lib/nginx.sh"
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'sea\ncity\nfields\n' > classes.txt
mkdir -p www/cogs
# An 8 x 6 mosaic of the 2000 x 2000 photo (a VRT written here), as a JPEG COG with overviews.
"$PY" - "$D/ground_photo_no_geo.jpg" <<'PYEOF'
import sys
src = sys.argv[1]
bands = []
for b in (1, 2, 3):
    srcs = "".join(
        '<SimpleSource><SourceFilename relativeToVRT="0">%s</SourceFilename>'
        '<SourceBand>%d</SourceBand><SrcRect xOff="0" yOff="0" xSize="2000" ySize="2000"/>'
        '<DstRect xOff="%d" yOff="%d" xSize="2000" ySize="2000"/></SimpleSource>'
        % (src, b, 2000 * i, 2000 * j) for j in range(6) for i in range(8))
    bands.append('<VRTRasterBand dataType="Byte" band="%d"><ColorInterp>%s</ColorInterp>%s'
                 '</VRTRasterBand>' % (b, ("Red", "Green", "Blue")[b - 1], srcs))
open("mosaic.vrt", "w").write('<VRTDataset rasterXSize="16000" rasterYSize="12000">%s</VRTDataset>'
                              % "".join(bands))
PYEOF
gdal_translate -q -of COG -co COMPRESS=JPEG -co QUALITY=75 mosaic.vrt www/cogs/big.tif
size=$(stat -c %s www/cogs/big.tif)
[ "$size" -gt 20000000 ] || { echo "the COG is only $size bytes: not a meaningful test"; exit 1; }

trap nginx_stop EXIT
if ! nginx_start "$PWD/www" "$PWD/srv"; then echo "SKIP: $NGINX_SKIP"; exit 77; fi
run() { "$GEOLABEL" -q label --model "$M" --classes classes.txt --split 3x3 --stretch none "$@"; }

run www/cogs/big.tif -o local.csv
: > "$NGINX_LOG"
run "http://127.0.0.1:$NGINX_PORT/cogs/big.tif" -o http.csv
cp "$NGINX_LOG" http.log
: > "$NGINX_LOG"
SSL_CERT_FILE=$NGINX_CERT run "https://127.0.0.1:$NGINX_TLS_PORT/cogs/big.tif" -o https.csv
cp "$NGINX_LOG" https.log

"$PY" - "$size" <<'PYEOF'
import csv, sys
size = int(sys.argv[1])
def rows(p):
    return [{k: v for k, v in r.items() if k not in ("input", "filename")}
            for r in csv.DictReader(open(p, newline=""))]
local = rows("local.csv")
assert len(local) == 9 and all(r["classification"] != "nodata" for r in local), local
for name in ("http", "https"):
    assert rows(name + ".csv") == local, name
    # "METHOD URI STATUS RANGE BYTES" per request (tests/lib/nginx.sh)
    gets = [l.split() for l in open(name + ".log") if l.startswith("GET /cogs/big.tif")]
    assert gets and all(g[2] == "206" and g[3].startswith("bytes=") for g in gets), gets[:5]
    sent = sum(int(g[4]) for g in gets)
    print("%s: %d range requests, %d of %d bytes (%.1f%%)" % (name, len(gets), sent, size,
                                                            100.0 * sent / size))
    assert sent < size / 2, (name, sent, size)
print("3x3 of a remote COG: rows equal the local file's, less than half the bytes read")
PYEOF
