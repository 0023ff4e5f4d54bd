#!/usr/bin/env bash
# Cloud-native inputs against a real web server: nginx (started here on loopback ports, stopped by
# PID) serves COGs made with gdal_translate, and STAC items. label on http:// URLs, on https://
# URLs (TLS with a certificate made here), on s3:// URLs (GDAL's /vsis3/ pointed at nginx), on a
# STAC item's visual asset and on its red,green,blue band assets stacked, equals label on the local
# files (Python csv; the input and filename columns aside). Every GET is a range request.
set -eu
. "$GEOLABEL_ROOT/tests/lib/nginx.sh"
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'sea\ncity\nfields\n' > classes.txt
mkdir -p www/cogs www/stac/items
for k in 0 1 2; do
  gdal_translate -q -of COG -srcwin $((k * 200)) $((k * 150)) 300 260 "$D/RGB.byte.tif" www/cogs/scene_$k.tif
done
for b in 1 2 3; do gdal_translate -q -of COG -b $b www/cogs/scene_0.tif www/cogs/band_$b.tif; done

# A STAC item whose hrefs are relative to the item (STAC best practice), bands by eo:bands.
item() { # id scene
  cat <<JSON
{"type": "Feature", "stac_version": "1.0.0", "id": "$1",
 "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
 "geometry": null, "properties": {"datetime": "2020-01-01T00:00:00Z"}, "links": [],
 "assets": {
  "visual": {"href": "../../cogs/$2", "type": "image/tiff; application=geotiff; profile=cloud-optimized"},
  "B04": {"href": "../../cogs/band_1.tif", "eo:bands": [{"name": "B04", "common_name": "red"}]},
  "B03": {"href": "./../../cogs/band_2.tif", "eo:bands": [{"name": "B03", "common_name": "green"}]},
  "B02": {"href": "../../cogs/band_3.tif", "eo:bands": [{"name": "B02", "common_name": "blue"}]}}}
JSON
}
item item-0 scene_0.tif > www/stac/items/item-0.json
{ echo '{"type": "FeatureCollection", "features": ['; item item-1 scene_1.tif; echo ','
  item item-2 scene_2.tif; echo ']}'; } > www/stac/items/collection.json

trap nginx_stop EXIT
if ! nginx_start "$PWD/www" "$PWD/srv"; then echo "SKIP: $NGINX_SKIP"; exit 77; fi
U=http://127.0.0.1:$NGINX_PORT
T=https://127.0.0.1:$NGINX_TLS_PORT
run() { "$GEOLABEL" -q label --model "$M" --classes classes.txt --split 2x2 "$@"; }

run www/cogs/scene_0.tif www/cogs/scene_1.tif www/cogs/scene_2.tif -o local.csv
run $U/cogs/scene_0.tif $U/cogs/scene_1.tif $U/cogs/scene_2.tif -o http.csv
SSL_CERT_FILE=$NGINX_CERT run $T/cogs/scene_0.tif $T/cogs/scene_1.tif $T/cogs/scene_2.tif -o https.csv
AWS_S3_ENDPOINT=127.0.0.1:$NGINX_PORT AWS_HTTPS=NO AWS_VIRTUAL_HOSTING=FALSE AWS_NO_SIGN_REQUEST=YES \
  run s3://cogs/scene_0.tif s3://cogs/scene_1.tif s3://cogs/scene_2.tif -o s3.csv
run --stac $U/stac/items/item-0.json -o stac_visual.csv
run --stac $U/stac/items/item-0.json --asset red,green,blue -o stac_bands.csv
run --stac www/stac/items/item-0.json --asset B04,B03,B02 -o stac_local.csv
run --stac $U/stac/items/collection.json -o stac_collection.csv
# https:// went over TLS: the same URL without the certificate fails, naming it.
if run $T/cogs/scene_0.tif -o no_cert.csv 2> no_cert.err; then exit 1; fi
grep -q "$T/cogs/scene_0.tif" no_cert.err

"$PY" - "$U" "$T" <<'PYEOF'
import csv, sys
U, T = sys.argv[1], sys.argv[2]
def rows(p):
    return list(csv.DictReader(open(p, newline="")))
def body(r):
    return {k: v for k, v in r.items() if k not in ("input", "filename")}
local = rows("local.csv")
assert len(local) == 12, len(local)
for name, prefix in (("http", U + "/cogs/"), ("https", T + "/cogs/"), ("s3", "s3://cogs/")):
    got = rows(name + ".csv")
    assert [body(r) for r in got] == [body(r) for r in local], name
    assert [r["input"] for r in got] == [prefix + r["input"].split("/")[-1] for r in local], name
    assert [r["filename"] for r in got] == [r["filename"] for r in local], name
scene0 = [body(r) for r in local if r["input"].endswith("scene_0.tif")]
for name in ("stac_visual", "stac_bands", "stac_local"):
    got = rows(name + ".csv")
    assert [body(r) for r in got] == scene0, name
    assert {r["input"] for r in got} == {"item-0"}, name
coll = rows("stac_collection.csv")
assert [r["input"] for r in coll] == ["item-1"] * 4 + ["item-2"] * 4, [r["input"] for r in coll]
assert [body(r) for r in coll] == [body(r) for r in local if not r["input"].endswith("scene_0.tif")]
print("remote, https, s3 and STAC labels equal the local ones")
PYEOF

# GDAL read the COGs by range requests only, never whole.
"$PY" - "$NGINX_LOG" <<'PYEOF'
import sys
gets = [l.split() for l in open(sys.argv[1]) if l.startswith("GET /cogs/")]
assert gets and all(g[2] == "206" and g[3].startswith("bytes=") for g in gets), gets[:5]
print(len(gets), "range requests")
PYEOF
