#!/usr/bin/env bash
# geolabel model pull against a real HTTP server on loopback laid out as the Hugging Face Hub
# ({repo}/resolve/{rev}/{file}, api/models/{repo}/tree/{rev}); sizes and sha256 from hashlib.
set -euo pipefail
FX=$GEOLABEL_SHARED/fixtures
export GEOLABEL_CACHE=$PWD/cache
SERVED=$PWD/hub
REPO=geolabel-test/clip-tiny
FILES="config.json model.safetensors vocab.json merges.txt preprocessor_config.json"

mkdir -p "$SERVED/$REPO/resolve/main" "$SERVED/api/models/$REPO/tree"
for f in $FILES; do cp "$FX/clip-tiny-b32/$f" "$SERVED/$REPO/resolve/main/"; done
# a sharded repository: the index names two shards (their content only has to arrive intact)
SHARDED=geolabel-test/sharded
mkdir -p "$SERVED/$SHARDED/resolve/main" "$SERVED/api/models/$SHARDED/tree"
cp "$FX/clip-tiny-b32/config.json" "$SERVED/$SHARDED/resolve/main/"
head -c 100000 "$FX/clip-tiny-b32/model.safetensors" > "$SERVED/$SHARDED/resolve/main/model-00001-of-00002.safetensors"
tail -c +100001 "$FX/clip-tiny-b32/model.safetensors" > "$SERVED/$SHARDED/resolve/main/model-00002-of-00002.safetensors"
printf '{"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}}' \
  > "$SERVED/$SHARDED/resolve/main/model.safetensors.index.json"

# tree listings as the Hub writes them: LFS files (*.safetensors) carry lfs.oid = sha256
$PY - "$SERVED" "$REPO" "$SHARDED" <<'PY'
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["GEOLABEL_ROOT"], "tests", "lib"))
from hub_server import tree_entry
root = sys.argv[1]
for repo in sys.argv[2:]:
    d = os.path.join(root, repo, "resolve", "main")
    entries = [tree_entry(os.path.join(d, name), name, name.endswith(".safetensors"))
               for name in sorted(os.listdir(d))]
    entries.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": "unrelated"})
    json.dump(entries, open(os.path.join(root, "api", "models", repo, "tree", "main"), "w"))
PY

# http.server with Range support, logging each request's path, Range and Authorization
cat > server.py <<'PY'
import http.server, os, sys
sys.path.insert(0, os.path.join(os.environ["GEOLABEL_ROOT"], "tests", "lib"))
from hub_server import send_ranged, serve
class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        with open(os.environ["LOG"], "a") as log:
            log.write("%s range=%s auth=%s\n" % (self.path, self.headers.get("Range"), self.headers.get("Authorization")))
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            return self.send_error(404)
        send_ranged(self, open(path, "rb").read())
serve(lambda *a: Handler(*a, directory=sys.argv[1]))
PY
. "$GEOLABEL_ROOT/tests/lib/hub.sh"
hub_serve "$SERVED"
export HF_TOKEN=hf_secret_token_never_printed

# 1. a fresh pull: every file byte-identical, no .part left, the token sent as a bearer
DIR=$GEOLABEL_CACHE/models/geolabel-test--clip-tiny
"$GEOLABEL" model pull "$REPO" > out.txt 2> err.txt
[ "$(cat out.txt)" = "$DIR" ]
for f in $FILES; do cmp "$FX/clip-tiny-b32/$f" "$DIR/$f"; done
[ -z "$(find "$DIR" -name '*.part')" ]
grep -q "auth=Bearer hf_secret_token_never_printed" "$LOG"
grep -q "^/api/models/$REPO/tree/main " "$LOG"

# 2. a second pull downloads nothing
before=$(grep -c /resolve/ "$LOG")
"$GEOLABEL" model pull "$REPO" > /dev/null
[ "$(grep -c /resolve/ "$LOG")" -eq "$before" ]

# 2b. a cached file damaged in place (same size: one byte flipped, and a git-blob file too) is
# not trusted: its digest is checked, it is fetched again, and the copy is byte-identical.
for f in model.safetensors vocab.json; do
  $PY -c "import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[100] ^= 1; open(p, 'wb').write(bytes(b))" "$DIR/$f"
done
before=$(grep -c /resolve/ "$LOG")
"$GEOLABEL" model pull "$REPO" > /dev/null 2> damaged.err
grep -q "model.safetensors: the cached copy fails its check" damaged.err
grep -q "vocab.json: the cached copy fails its check" damaged.err
[ "$(grep -c /resolve/ "$LOG")" -eq $((before + 2)) ]
for f in model.safetensors vocab.json; do cmp "$FX/clip-tiny-b32/$f" "$DIR/$f"; done

# 3. resume: half a .part left behind is completed with a Range request
rm "$DIR/model.safetensors"
head -c 5000 "$FX/clip-tiny-b32/model.safetensors" > "$DIR/model.safetensors.part"
"$GEOLABEL" model pull "$REPO" > /dev/null
cmp "$FX/clip-tiny-b32/model.safetensors" "$DIR/model.safetensors"
grep -q "^/$REPO/resolve/main/model.safetensors range=bytes=5000- " "$LOG"
[ ! -e "$DIR/model.safetensors.part" ]

# 4. a corrupted served file (same size) fails the sha256 check and is not kept
rm "$DIR/model.safetensors"
$PY -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-3]^=0xff; open(p,"wb").write(b)' \
  "$SERVED/$REPO/resolve/main/model.safetensors"
if "$GEOLABEL" model pull "$REPO" > /dev/null 2> err.txt; then exit 1; fi
grep -q "model.safetensors: sha256 mismatch" err.txt
[ "$(wc -l < err.txt)" -eq 1 ]
[ ! -e "$DIR/model.safetensors" ]
[ ! -e "$DIR/model.safetensors.part" ]
cp "$FX/clip-tiny-b32/model.safetensors" "$SERVED/$REPO/resolve/main/model.safetensors"
# ... and a file outside LFS is checked against its git blob id
rm "$DIR/vocab.json"
cp "$SERVED/$REPO/resolve/main/vocab.json" good_vocab.json
$PY -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[100]^=0x01; open(p,"wb").write(b)' \
  "$SERVED/$REPO/resolve/main/vocab.json"
if "$GEOLABEL" model pull "$REPO" > /dev/null 2> err.txt; then exit 1; fi
grep -q "vocab.json: git blob sha1 mismatch" err.txt
[ ! -e "$DIR/vocab.json" ]
cp good_vocab.json "$SERVED/$REPO/resolve/main/vocab.json"
"$GEOLABEL" model pull "$REPO" > /dev/null
cmp "$FX/clip-tiny-b32/vocab.json" "$DIR/vocab.json"

# 5. a missing repository is a clear 404
if "$GEOLABEL" model pull geolabel-test/missing > /dev/null 2> err.txt; then exit 1; fi
grep -q "404" err.txt

# 5b. a listed file the server lacks: a 404 naming it, and no error page saved as the file
BROKEN=geolabel-test/broken
mkdir -p "$SERVED/$BROKEN/resolve/main" "$SERVED/api/models/$BROKEN/tree"
cp "$FX/clip-tiny-b32/config.json" "$FX/clip-tiny-b32/model.safetensors" "$SERVED/$BROKEN/resolve/main/"
printf '[{"type":"file","path":"config.json","size":%d},{"type":"file","path":"vocab.json","size":10},{"type":"file","path":"model.safetensors","size":%d}]' \
  "$(wc -c < "$FX/clip-tiny-b32/config.json")" "$(wc -c < "$FX/clip-tiny-b32/model.safetensors")" > "$SERVED/api/models/$BROKEN/tree/main"
if "$GEOLABEL" model pull "$BROKEN" > /dev/null 2> err.txt; then exit 1; fi
grep -q "geolabel-test/broken/vocab.json: HTTP 404" err.txt
BD=$GEOLABEL_CACHE/models/geolabel-test--broken
[ ! -e "$BD/vocab.json" ]
[ ! -s "$BD/vocab.json.part" ]

# 6. sharded weights: the index, then each shard once; --cache picks another cache root
"$GEOLABEL" model pull "$SHARDED" --cache "$PWD/cache2" > out.txt
SD=$PWD/cache2/models/geolabel-test--sharded
[ "$(cat out.txt)" = "$SD" ]
for f in config.json model.safetensors.index.json model-00001-of-00002.safetensors model-00002-of-00002.safetensors; do
  cmp "$SERVED/$SHARDED/resolve/main/$f" "$SD/$f"
done
[ "$(grep -c "/$SHARDED/resolve/main/model-00001-of-00002.safetensors" "$LOG")" -eq 1 ]

# 7. --model ORG/NAME now works for tokenize, as the folder does
echo "a photo of a dog" | "$GEOLABEL" tokenize --model "$REPO" > by_id.txt
echo "a photo of a dog" | "$GEOLABEL" tokenize --model "$FX/clip-tiny-b32" > by_dir.txt
cmp by_id.txt by_dir.txt
$PY -c 'import json,sys; assert json.load(open(sys.argv[1]))[:7] == [49406, 320, 1125, 539, 320, 1929, 49407]' by_id.txt

# 8. a dead endpoint: the Hub is unreachable, use a local folder
kill $SERVER; wait $SERVER 2>/dev/null || true
if "$GEOLABEL" model pull geolabel-test/other > /dev/null 2> err.txt; then exit 1; fi
grep -q "unreachable" err.txt
grep -q "local model folder" err.txt
[ "$(wc -l < err.txt)" -eq 1 ]
# ... and leaves nothing that would pass for a pulled model
if echo x | "$GEOLABEL" tokenize --model geolabel-test/other > /dev/null 2> err.txt; then exit 1; fi
grep -q "geolabel model pull geolabel-test/other" err.txt

# the token never appears in anything we printed
if grep -rq hf_secret_token_never_printed out.txt err.txt by_id.txt; then exit 1; fi
echo ok
