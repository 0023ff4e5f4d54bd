#!/usr/bin/env bash
# A full disk (simulated with the shell's file size limit, SIGXFSZ ignored so writes fail with
# EFBIG as on a full disk): every output format keeps the old file and the run exits non-zero;
# the journal then lets --resume finish without labelling again. Writes to stdout are checked too.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'sea\ncity\n' > classes.txt
run() { "$GEOLABEL" label --model "$M" --classes classes.txt "$@"; }
limited() { # limited KB CMD...: run CMD with files capped at KB kilobytes
  local kb=$1; shift
  (trap '' XFSZ; ulimit -f "$kb"; "$@")
}
for ext in geojson gpkg csv; do
  run --split 2x2 "$D/world.rgb.tif" -o "out.$ext" -q
  cp "out.$ext" "old.$ext"
  # 20 KB holds the journal of 64 tiles (about 10 KB) but not the GeoJSON or GPKG; for the CSV
  # (smaller than the journal) 6 KB makes the journal's own writes fail.
  kb=20; [ "$ext" = csv ] && kb=6
  rc=0; limited "$kb" "$GEOLABEL" label --model "$M" --classes classes.txt --split 8x8 \
      "$D/world.rgb.tif" -o "out.$ext" 2> "$ext.err" || rc=$?
  [ "$rc" -ne 0 ] || { echo "$ext: exit 0 on a full disk"; exit 1; }
  grep -q "out.$ext" "$ext.err"
  cmp "out.$ext" "old.$ext" # the old output, untouched
  ls out.$ext.tmp* 2> /dev/null && { echo "temporary file left"; exit 1; }
  if [ "$ext" != csv ]; then
    run --split 8x8 --resume "$D/world.rgb.tif" -o "out.$ext" 2> "$ext.resume"
    grep -q "0 labelled, 1 already complete" "$ext.resume"
  fi
done
ogrinfo -ro -so out.gpkg labels | grep -q "Feature Count: 64"
$PY -c "import json; assert len(json.load(open('out.geojson'))['features']) == 64"
# stdout: a command whose output cannot be written fails.
rc=0; echo "a photo" | "$GEOLABEL" tokenize --model "$M" > /dev/full 2> tok.err || rc=$?
[ "$rc" -ne 0 ] && grep -q "stdout" tok.err
echo ok
