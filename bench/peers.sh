#!/usr/bin/env bash
# peers.sh: geolabel against ONNX Runtime (npm onnxruntime-node) and PyTorch on the same random
# full-size weights, row by row, only while the machine is idle. Prints BENCHMARKS.md's engine
# table. Not a test. Usage: bench/peers.sh [ROUNDS [RUNS [ROW-FILTER]]]
# Env: PEERS_CACHE (default ~/.cache/geolabel-peers: npm install, models, ONNX graphs),
#      PEERS_SKIP_L14=1 (no ViT-L/14-336 row), PEERS_TORCH=0 (no PyTorch column), IDLE_FRAC.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${1:-3}
RUNS=${2:-5}
FILTER=${3:-}
PY=/usr/bin/python3 # Debian's, with python3-torch and python3-onnx
CACHE=${PEERS_CACHE:-$HOME/.cache/geolabel-peers}
mkdir -p "$CACHE/ort" "$CACHE/models"

make -s -j2 build/geolabel build/libgeolabel.a >/dev/null
GEOLABEL=$ROOT/build/geolabel
LIBS=$(make -s print-ldlibs) # the link libraries the Makefile uses, whatever they come to be
cc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -o "$CACHE/models/embed_npy" bench/embed_npy.c build/libgeolabel.a $LIBS
cc -O2 -pthread -o "$CACHE/models/fma_peak" bench/fma_peak.c

# ONNX Runtime for Node; its post-install would try a CUDA download, hence the skip
if [ ! -d "$CACHE/ort/node_modules/onnxruntime-node" ]; then
  (cd "$CACHE/ort" && echo '{"name":"geolabel-peers","private":true}' > package.json &&
    ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund onnxruntime-node >/dev/null)
fi
echo "ONNX Runtime $(node -p "require('$CACHE/ort/node_modules/onnxruntime-node/package.json').version") (npm onnxruntime-node)" >&2

geometries="vit-b-32"
[ "${PEERS_SKIP_L14:-0}" = 1 ] || geometries="$geometries vit-l-14-336"
for g in $geometries; do
  M=$CACHE/models/$g
  [ -f "$M/model.safetensors" ] || "$GEOLABEL" model random --like "$g" -o "$M" >/dev/null
  [ -f "$M/onnx/image_int8.onnx" ] || $PY bench/onnx_export.py "$M" "$M/onnx" 2>/dev/null
  # ORT must compute what we compute: same inputs, max |difference| <= 1e-4
  $PY - "$M" "$CACHE/ort" "$CACHE/models/embed_npy" "$ROOT/bench/ort_bench.js" <<'PY'
import json, os, subprocess, sys
import numpy as np
model, ort_dir, embed, ort_js = sys.argv[1:]
tmp = os.path.join(model, "check")
os.makedirs(tmp, exist_ok=True)
env = dict(os.environ, ORT_NODE_DIR=ort_dir)
S = json.load(open(os.path.join(model, "config.json")))["vision_config"]["image_size"]
rng = np.random.default_rng(7)
px = (rng.random((2, 3, S, S), dtype=np.float32) * 4 - 2).astype(np.float32)
np.save(f"{tmp}/px.npy", px); px.tofile(f"{tmp}/px.bin")
def ours(kind, src, dst, dtype="f32"):
    subprocess.check_call([embed, model, kind, src, dst, "2", dtype])
    return np.load(dst)
def ort(graph, kind, src, shape, dst):
    subprocess.check_call(["node", ort_js, "run", f"{model}/onnx/{graph}", kind, src, shape, dst, "2"], env=env)
    return np.fromfile(dst, np.float32)
def cos(a, b):
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
a = ours("image", f"{tmp}/px.npy", f"{tmp}/ours.npy")
b = ort("image.onnx", "image", f"{tmp}/px.bin", f"2,3,{S},{S}", f"{tmp}/ort.bin").reshape(a.shape)
d = float(np.abs(a - b).max())
print(f"{os.path.basename(model)}: image embeddings, max |geolabel - ORT| = {d:.2e} (max |x| {np.abs(a).max():.3f})", file=sys.stderr)
assert d <= 1e-4, "ORT and geolabel disagree"
qi = ort("image_int8.onnx", "image", f"{tmp}/px.bin", f"2,3,{S},{S}", f"{tmp}/ort8.bin").reshape(a.shape)
oi = ours("image", f"{tmp}/px.npy", f"{tmp}/ours8.npy", "int8")
ob = ours("image", f"{tmp}/px.npy", f"{tmp}/oursb.npy", "bf16")
print(f"  cosine to f32: ORT int8 {cos(qi, b).min():.6f}, geolabel int8 {cos(oi, a).min():.6f}, geolabel bf16 {cos(ob, a).min():.6f} (worst of 2 images)", file=sys.stderr)
assert cos(oi, a).min() >= 0.999 and cos(ob, a).min() >= 0.999, "accuracy gate"
if os.path.basename(model) == "vit-b-32":
    ids = np.zeros((2, 77), np.int32); ids[:, 0] = 49406
    for r, L in enumerate((8, 77)):
        ids[r, 1:L - 1] = rng.integers(320, 1320, L - 2); ids[r, L - 1] = 49407
    np.save(f"{tmp}/ids.npy", ids)
    t = ours("text", f"{tmp}/ids.npy", f"{tmp}/ours_t.npy")
    for r, L in enumerate((8, 77)):
        ids[r:r + 1, :L].astype(np.int64).tofile(f"{tmp}/ids.bin")
        o = ort("text.onnx", "text", f"{tmp}/ids.bin", f"1,{L}", f"{tmp}/ort_t.bin")
        d = float(np.abs(o - t[r]).max())
        print(f"  text embeddings ({L} tokens), max |geolabel - ORT| = {d:.2e}", file=sys.stderr)
        assert d <= 1e-4, "ORT and geolabel disagree"
PY
done

echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores; flags: $(grep -m1 -o -w -E 'avx2|avx512f|avx512_vnni|avx512_bf16|amx_tile|amx_bf16|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "$(date -u '+%F %H:%M') UTC; geolabel $(git rev-parse --short HEAD)"
echo
$PY bench/peers.py "$GEOLABEL" "$CACHE/models" "$CACHE/ort" "$ROUNDS" "$RUNS" "$FILTER"
