#!/usr/bin/env bash
# geolabel model pull for the weights users actually find on the Hub, against a Python
# http.server on loopback that answers as the Hub does: api/models/{repo}/tree/{rev}[/{dir}]
# listings (sizes, git blob ids, LFS sha256 from hashlib) made from the served folders, and
# {repo}/resolve/{rev}/{path} downloads, the revision one URL-encoded path segment.
#  1. a repository with only pytorch_model.bin            5. --file PATH --arch CONFIG.json, then
#  2. one with a sharded pytorch_model.bin index              --model ORG/NAME/PATH with no --arch
#  3. an open_clip repository (config + .bin)             6. --file with --arch NAME
#  4. safetensors preferred when both are there           7. --revision refs/pr/1
# Every pulled model then embeds the fixture images as the references say (5e-5 abs + rel).
set -euo pipefail
F=$GEOLABEL_SHARED/fixtures
"$PY" -c 'import torch, numpy' 2>/dev/null || { echo "SKIP: python3-torch or numpy missing"; exit 77; }
export GEOLABEL_CACHE=$PWD/cache
S=$PWD/served

# the served repositories: S/ORG/NAME/REVISION/files
put() { mkdir -p "$S/$1/$2"; cp "${@:3}" "$S/$1/$2/"; }
HF="$F/clip-tiny-b32-torchbin"
put t/binonly main "$HF"/{config.json,pytorch_model.bin,vocab.json,merges.txt,preprocessor_config.json}
put t/sharded main "$HF"/{config.json,vocab.json,merges.txt,preprocessor_config.json}
"$PY" - "$HF/pytorch_model.bin" "$S/t/sharded/main" <<'PY'
# transformers' sharded layout: two shards and an index mapping every tensor to its shard
import json, sys, torch
sd = torch.load(sys.argv[1], map_location="cpu")
names = list(sd)
shards = {"pytorch_model-00001-of-00002.bin": names[::2], "pytorch_model-00002-of-00002.bin": names[1::2]}
wm = {}
for f, keys in shards.items():
    torch.save({k: sd[k] for k in keys}, sys.argv[2] + "/" + f)
    wm.update({k: f for k in keys})
json.dump({"metadata": {}, "weight_map": wm}, open(sys.argv[2] + "/pytorch_model.bin.index.json", "w"))
PY
OC="$F/openclip/openclip-tiny-quickgelu"
put t/openclip main "$OC"/{open_clip_config.json,open_clip_pytorch_model.bin}
echo "an open_clip model card" > "$S/t/openclip/main/README.md"
put t/both main "$F/clip-tiny-b32"/{config.json,model.safetensors,vocab.json,merges.txt} "$HF/pytorch_model.bin"
mkdir -p "$S/t/ckpts/main/ckpt"
cp "$F/openclip/openclip-tiny-gelu/epoch_3.pt" "$S/t/ckpts/main/ckpt/"
head -c 3000000 /dev/zero > "$S/t/ckpts/main/ckpt/other.pt"
echo "checkpoints" > "$S/t/ckpts/main/README.md"
put t/pr main "$HF"/{config.json,pytorch_model.bin,vocab.json,merges.txt}
put t/pr refs/pr/1 "$F/clip-tiny-b32"/{config.json,model.safetensors,vocab.json,merges.txt}

cat > server.py <<'PY'
import http.server, json, os, sys, urllib.parse
sys.path.insert(0, os.path.join(os.environ["GEOLABEL_ROOT"], "tests", "lib"))
from hub_server import send_ranged, serve, tree_entry
ROOT = sys.argv[1]
def listing(repo_dir, sub):
    out = []
    d = os.path.join(repo_dir, sub)
    for name in sorted(os.listdir(d)):
        rel = (sub + "/" + name) if sub else name
        p = os.path.join(d, name)
        if os.path.isdir(p):
            out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": rel})
            continue
        out.append(tree_entry(p, rel, name.endswith((".bin", ".pt", ".safetensors"))))
    return out
class Hub(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        with open(os.environ["LOG"], "a") as log:
            log.write("%s range=%s\n" % (self.path, self.headers.get("Range")))
        seg = [urllib.parse.unquote(s) for s in self.path.split("?")[0].split("/")[1:]]
        try:
            if seg[:2] == ["api", "models"] and seg[4] == "tree":
                repo, rev, sub = seg[2] + "/" + seg[3], seg[5], "/".join(seg[6:])
                body = json.dumps(listing(os.path.join(ROOT, repo, rev), sub)).encode()
            elif seg[2] == "resolve":
                repo, rev, path = seg[0] + "/" + seg[1], seg[3], "/".join(seg[4:])
                body = open(os.path.join(ROOT, repo, rev, path), "rb").read()
            else:
                raise FileNotFoundError
        except (IndexError, FileNotFoundError, NotADirectoryError):
            return self.send_error(404)
        send_ranged(self, body)
serve(Hub)
PY
. "$GEOLABEL_ROOT/tests/lib/hub.sh"
hub_serve "$S"
unset HF_TOKEN

IMGS=("$F"/expected/images/*)
same() { # embeddings.npy expected.npy
  "$PY" - "$1" "$2" <<'PY'
import sys, numpy as np
a, e = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.shape == e.shape, (a.shape, e.shape)
bad = np.abs(a - e) > 5e-5 + 5e-5 * np.abs(e)
assert not bad.any(), (sys.argv[1], float(np.abs(a - e).max()))
PY
}

# 1. only pytorch_model.bin: fetched, checked, and the model embeds as transformers does
"$GEOLABEL" model pull t/binonly > out.txt
D=$GEOLABEL_CACHE/models/t--binonly
[ "$(cat out.txt)" = "$D" ]
cmp "$HF/pytorch_model.bin" "$D/pytorch_model.bin"
if grep -q "resolve/main/model.safetensors" "$LOG"; then exit 1; fi
"$GEOLABEL" embed --model t/binonly "${IMGS[@]}" -o e1.npy
same e1.npy "$F/expected/clip-tiny-b32/image_embeds.npy"

# 2. a sharded pytorch_model.bin: the index, then each shard once
"$GEOLABEL" model pull t/sharded > /dev/null
for f in pytorch_model.bin.index.json pytorch_model-00001-of-00002.bin pytorch_model-00002-of-00002.bin; do
  cmp "$S/t/sharded/main/$f" "$GEOLABEL_CACHE/models/t--sharded/$f"
done
[ "$(grep -c "/t/sharded/resolve/main/pytorch_model-00001-of-00002.bin " "$LOG")" -eq 1 ]
"$GEOLABEL" embed --model t/sharded "${IMGS[@]}" -o e2.npy
same e2.npy "$F/expected/clip-tiny-b32/image_embeds.npy"

# 3. an open_clip repository: its config and weights, not its README
"$GEOLABEL" model pull t/openclip > /dev/null
ls "$GEOLABEL_CACHE/models/t--openclip" | sort > got.txt
printf 'open_clip_config.json\nopen_clip_pytorch_model.bin\n' | diff - got.txt
"$GEOLABEL" embed --model t/openclip "${IMGS[@]}" -o e3.npy
same e3.npy "$OC/expected/image_embeds.npy"

# 4. both layouts: model.safetensors wins, pytorch_model.bin is not fetched
"$GEOLABEL" model pull t/both > /dev/null
grep -q "^/t/both/resolve/main/model.safetensors " "$LOG"
if grep -q "^/t/both/resolve/main/pytorch_model.bin" "$LOG"; then exit 1; fi

# 5. --file: one checkpoint from a subfolder, its listing asked for that folder only; the --arch
#    given is kept beside it, so --model ORG/NAME/PATH needs none
"$GEOLABEL" model pull t/ckpts --file ckpt/epoch_3.pt \
  --arch "$F/openclip/openclip-tiny-gelu/openclip-tiny-gelu.json" > out.txt
P=$GEOLABEL_CACHE/models/t--ckpts/ckpt/epoch_3.pt
[ "$(cat out.txt)" = "$P" ]
cmp "$F/openclip/openclip-tiny-gelu/epoch_3.pt" "$P"
cmp "$F/openclip/openclip-tiny-gelu/openclip-tiny-gelu.json" "$P.arch.json"
grep -q "^/api/models/t/ckpts/tree/main/ckpt " "$LOG"
if grep -q "other.pt\|README" "$LOG"; then exit 1; fi
"$GEOLABEL" embed --model t/ckpts/ckpt/epoch_3.pt "${IMGS[@]}" -o e5.npy
same e5.npy "$F/openclip/openclip-tiny-gelu/expected/image_embeds.npy"
"$GEOLABEL" model info t/ckpts/ckpt/epoch_3.pt --json > info.json
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["source"]=="checkpoint" and d["family"]=="open_clip" and d["vision"]["act"]=="gelu", d' info.json

# 6. --arch NAME: the shipped open_clip config is what is kept
"$GEOLABEL" model pull t/ckpts --file README.md --arch ViT-B-32 > /dev/null
cmp "$GEOLABEL_DATA/open_clip/ViT-B-32.json" "$GEOLABEL_CACHE/models/t--ckpts/README.md.arch.json"
# ... a file the repository lacks is a clear error
if "$GEOLABEL" model pull t/ckpts --file ckpt/missing.pt --arch ViT-B-32 > /dev/null 2> err.txt; then exit 1; fi
grep -q "no file ckpt/missing.pt" err.txt
[ "$(wc -l < err.txt)" -eq 1 ]

# 7. --revision refs/pr/1: sent as one encoded segment; the PR branch's safetensors arrive
"$GEOLABEL" model pull t/pr --revision refs/pr/1 > /dev/null
grep -q "^/api/models/t/pr/tree/refs%2Fpr%2F1 " "$LOG"
grep -q "^/t/pr/resolve/refs%2Fpr%2F1/model.safetensors " "$LOG"
cmp "$F/clip-tiny-b32/model.safetensors" "$GEOLABEL_CACHE/models/t--pr/model.safetensors"

# the same id at main: only pytorch_model.bin there
rm -rf "$GEOLABEL_CACHE/models/t--pr"
"$GEOLABEL" model pull t/pr > /dev/null
[ -e "$GEOLABEL_CACHE/models/t--pr/pytorch_model.bin" ] && [ ! -e "$GEOLABEL_CACHE/models/t--pr/model.safetensors" ]
echo ok
