#!/usr/bin/env bash
# Broken model folders (copies of the fixture models, patched here): each load fails with one
# line naming the file and the problem, exit code 1, no sanitizer report, no output file.
set -eu
F=$GEOLABEL_SHARED/fixtures
IMG=$GEOLABEL_SHARED/fixtures/expected/images/01_chelsea.png

fresh() { rm -rf "$1"; cp -r "$F/$2" "$1"; chmod -R u+w "$1"; }
patch() { # file old new: same-length byte replacement of the first occurrence
  "$PY" - "$@" <<'PYEOF'
import sys
p, old, new = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
assert len(old) == len(new)
b = open(p, "rb").read()
assert old in b, old
open(p, "wb").write(b.replace(old, new, 1))
PYEOF
}
expect_fail() { # dir needle...
  dir=$1; shift
  rc=0
  "$GEOLABEL" embed --model "$dir" "$IMG" -o out.npy 2>err.txt || rc=$?
  [ "$rc" -eq 1 ] || { echo "$dir: exit $rc"; cat err.txt; exit 1; }
  [ "$(wc -l < err.txt)" -eq 1 ] || { echo "$dir: not one line"; cat err.txt; exit 1; }
  for needle in "$@"; do grep -qF -- "$needle" err.txt || { echo "$dir: no '$needle'"; cat err.txt; exit 1; }; done
  if grep -qE "Sanitizer|runtime error" err.txt; then echo "$dir: sanitizer report"; cat err.txt; exit 1; fi
  [ ! -e out.npy ]
}

fresh trunc clip-tiny-b32
truncate -s 5000000 trunc/model.safetensors
expect_fail trunc trunc/model.safetensors exceed

fresh header clip-tiny-l14-336
"$PY" -c 'import sys; f=open(sys.argv[1],"r+b"); f.write((10**9).to_bytes(8,"little"))' header/model.safetensors
expect_fail header header/model.safetensors "header length"

fresh json clip-tiny-b32
patch json/model.safetensors '"shape":[77,64]' '"shape":[77,64}'
expect_fail json json/model.safetensors JSON

fresh lie clip-tiny-b32
patch lie/model.safetensors '[4,19716]' '[0,19712]'
expect_fail lie lie/model.safetensors overlap

fresh past clip-tiny-l14-336
"$PY" - past/model.safetensors <<'PYEOF'
# the last tensor's end offset pushed 1000 bytes past the payload, the header length unchanged
import sys, json, struct
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
name = max((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][1])
e = h[name]["data_offsets"][1]
old = ('"data_offsets":[%d,%d]' % (h[name]["data_offsets"][0], e)).encode()
new = ('"data_offsets":[%d,%d]' % (h[name]["data_offsets"][0] + 1000, e + 1000)).encode()
hdr = bytes(b[8:8 + n]).replace(old, new)
hdr += b" " * (-len(hdr) % 8)
open(p, "wb").write(struct.pack("<Q", len(hdr)) + hdr + bytes(b[8 + n:]))
PYEOF
expect_fail past past/model.safetensors exceed

fresh missing clip-tiny-b32
patch missing/model.safetensors '"text_projection.weight"' '"text_projectiom.weight"'
expect_fail missing missing/model.safetensors "'text_projection.weight' is missing"

fresh shape clip-tiny-l14-336
patch shape/config.json '"projection_dim": 32' '"projection_dim": 16'
expect_fail shape shape/model.safetensors "visual_projection.weight" "[32,64]" "[16,64]"

fresh novocab clip-tiny-b32
rm novocab/vocab.json
expect_fail novocab novocab/vocab.json

fresh dtype clip-tiny-b32
patch dtype/model.safetensors '"logit_scale":{"dtype":"F32"' '"logit_scale":{"dtype":"I32"'
expect_fail dtype dtype/model.safetensors logit_scale

fresh config clip-tiny-b32
printf '{"text_config": {"hidden_size": 64,' > config/config.json
expect_fail config config/config.json

expect_fail no/such/model "no/such/model"
echo ok
