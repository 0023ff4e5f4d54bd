#!/usr/bin/env bash
# bench_clip.sh: CLIP tower speed on a random full-size ViT-B/32, geolabel vs plain PyTorch, in one
# run. Prints a Markdown table for BENCHMARKS.md. Not a test. Usage: bench/bench_clip.sh [RUNS]
# Env: BUILD (default build), MODEL_DIR (reuse a model folder), PY (default /usr/bin/python3).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUNS=${1:-7}
BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
export OPENBLAS_CORETYPE=SKYLAKEX # Debian's OpenBLAS 0.3.21 takes Zen 4 for Prescott otherwise
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

make -s -j2 "$BUILD/libgeolabel.a" "$BUILD/geolabel" >/dev/null
LIBS="$(pkg-config --libs gdal cairo libcurl libutf8proc yaml-0.1 libcjson) -lopenblas -lz -lpthread -lm -lcrypto"
cc -std=c11 -D_GNU_SOURCE -O2 -march=native -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread \
  -o "$WORK/clip_forward" bench/clip_forward.c "$BUILD/libgeolabel.a" $LIBS

MODEL=${MODEL_DIR:-$WORK/vit-b-32}
if [ ! -f "$MODEL/model.safetensors" ]; then
  if ! "$BUILD/geolabel" model random --like vit-b-32 -o "$MODEL" >/dev/null 2>&1; then
    echo "(model random unavailable: writing the random ViT-B/32 with bench/torch_clip.py)" >&2
    "$PY" bench/torch_clip.py random "$MODEL" vit-b-32
    cp "$ROOT/../shared/fixtures/clip-tiny-b32/"{vocab.json,merges.txt,preprocessor_config.json} "$MODEL/"
  fi
fi

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "ViT-B/32 (random weights, F32), $cpu, $(nproc) cores, median of $RUNS runs after a warm-up;"
echo "$(date -u '+%F %H:%M') UTC, load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "ms = wall milliseconds per image (or text); CPU ms = process CPU time per item (all threads)."
echo "PyTorch runs with torch.set_num_threads(T) and OPENBLAS_NUM_THREADS=T, so both sides use T cores."
echo
echo "| shape | threads | geolabel ms | PyTorch ms | PyTorch / geolabel | geolabel CPU ms | PyTorch CPU ms |"
echo "|---|---|---|---|---|---|---|"
row() { # label mode batch threads tokens
  set -- "$1" $("$WORK/clip_forward" "$MODEL" "$2" "$3" "$4" "$5" "$RUNS") \
    $(OPENBLAS_NUM_THREADS="$4" "$PY" bench/torch_clip.py bench "$MODEL" "$2" "$3" "$4" "$5" "$RUNS") "$4"
  echo "| $1 | $6 | $2 | $4 | $(awk -v a="$4" -v b="$2" 'BEGIN { printf "%.2f", a / b }') | $3 | $5 |"
}
for threads in 1 2; do
  row "image, batch 1 (ms/image)" image 1 "$threads" 77
  row "image, batch 8 (ms/image)" image 8 "$threads" 77
done
for threads in 1 2; do
  row "text, 77 tokens (ms/text)" text 1 "$threads" 77
  row "text, 8 tokens (ms/text)" text 1 "$threads" 8
done
