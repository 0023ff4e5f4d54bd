#!/usr/bin/env bash
# bench_geo.sh: geolocation speed, for BENCHMARKS.md (not a test). Zero-shot locate on a random
# full-size ViT-L/14-336 (StreetCLIP's geometry) at 2 threads: images/s with a warm prompt cache
# and the one-time prompt embedding cost; GeoCLIP: the one-time 100K-gallery encoding and the
# retrieval time per image with cached features (batch 1 and 32).
# Usage: bench/bench_geo.sh [N_IMAGES]. Env: BUILD (default build), GEOLABEL (a binary to use
# instead), MODEL_DIR (reuse a model folder).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
N=${1:-8}
BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
SHARED=${GEOLABEL_SHARED:-$ROOT/../shared}
export OPENBLAS_CORETYPE=SKYLAKEX # Debian's OpenBLAS 0.3.21 misdetects Zen 4 otherwise
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ -n "${GEOLABEL:-}" ]; then G=$GEOLABEL; else make -s -j2 "$BUILD/geolabel" >/dev/null; G=$ROOT/$BUILD/geolabel; fi

MODEL=${MODEL_DIR:-$WORK/vit-l-14-336}
[ -f "$MODEL/config.json" ] || "$G" model random --like vit-l-14-336 -o "$MODEL" >/dev/null
# N photos: the ground-level pictures of the shared imagery, repeated.
imgs=()
src=("$SHARED/data/imagery/Kauai.png" "$SHARED/data/imagery/ground_photo_no_geo.jpg" "$SHARED/data/imagery/airport.jpg")
for i in $(seq 0 $((N - 1))); do imgs+=("${src[$((i % 3))]}"); done
field() { grep -o "$1" "$2" | head -n1 | grep -Eo '[0-9.]+' | head -n "${3:-1}" | tail -n1; }

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "Geolocation, $cpu, $(nproc) cores, 2 threads, $(date -u +%F)"
echo
export GEOLABEL_CACHE=$WORK/cache
# Cold cache, one image: 250 country prompts, then the 30 city prompts of the chosen country.
"$G" -v locate --model "$MODEL" --threads 2 -o "$WORK/cold.csv" "${imgs[0]}" 2> "$WORK/cold.log"
countries_s=$(field "country prompts ready in [0-9.]* s" "$WORK/cold.log")
# Warm cache: only image encoding (cities of newly chosen countries may still be embedded).
"$G" -v locate --model "$MODEL" --threads 2 -o "$WORK/warm.csv" "${imgs[@]}" 2> "$WORK/warm.log"
enc_s=$(field "images encoded in [0-9.]* s" "$WORK/warm.log")
loc_s=$(field "images located in [0-9.]* s" "$WORK/warm.log")
new_prompts=$(field "text encodings [0-9]*" "$WORK/warm.log")
awk -v n="$N" -v e="$enc_s" -v l="$loc_s" -v c="$countries_s" -v p="$new_prompts" 'BEGIN {
  rate = 250 / c
  printf "| zero-shot locate (ViT-L/14-336, random weights) | value |\n|---|---|\n"
  printf "| images/s, warm prompt cache, %d images (encode + locate) | %.3f |\n", n, n / (e + l)
  printf "| image encoding alone, s/image | %.3f |\n", e / n
  printf "| 250 country prompts, one-time, s | %.2f (%.1f prompts/s) |\n", c, rate
  printf "| 30 city prompts of a newly chosen country, s (estimate) | %.2f |\n", 30 / rate
  printf "| whole gazetteer (250 + 4368 prompts) if every country were visited, s (estimate) | %.0f |\n", 4618 / rate
  printf "| prompts encoded during the warm run (new countries) | %d |\n", p
}'
echo
# GeoCLIP: the fixture's weights have the real shapes (location encoder random), so costs are real.
FX=$SHARED/fixtures/geoclip
mkdir "$WORK/gc"
ln -s "$FX/location_encoder_random.pth" "$WORK/gc/location_encoder_weights.pth"
ln -s "$FX/image_encoder_mlp_weights.pth" "$WORK/gc/image_encoder_mlp_weights.pth"
ln -s "$FX/logit_scale_weights.pth" "$WORK/gc/logit_scale_weights.pth"
"$PY" -c "
import numpy as np
r = np.random.default_rng(0)
for n in (1, 32):
    np.save('$WORK/f%d.npy' % n, (r.standard_normal((n, 768)) * 0.5).astype('<f4'))
"
"$G" -v locate --method geoclip --geoclip-dir "$WORK/gc" --threads 2 --image-features "$WORK/f1.npy" -o "$WORK/g0.csv" 2> "$WORK/g0.log"
gal_s=$(field "gallery features ready in [0-9.]* s" "$WORK/g0.log")
"$G" -v locate --method geoclip --geoclip-dir "$WORK/gc" --threads 2 --image-features "$WORK/f1.npy" -o "$WORK/g1.csv" 2> "$WORK/g1.log"
"$G" -v locate --method geoclip --geoclip-dir "$WORK/gc" --threads 2 --image-features "$WORK/f32.npy" -o "$WORK/g32.csv" 2> "$WORK/g32.log"
load_s=$(field "gallery features ready in [0-9.]* s" "$WORK/g1.log")
r1=$(field "retrieval [0-9.]* ms" "$WORK/g1.log")
r32=$(field "retrieval [0-9.]* ms" "$WORK/g32.log")
echo "| GeoCLIP over the 100K gallery | value |"
echo "|---|---|"
echo "| gallery location features, one-time encoding, s | $gal_s |"
echo "| cached features read (205 MB, CRC-checked), s | $load_s |"
echo "| retrieval, batch 1 (MLP + one GEMM + softmax + top-k), ms/image | $r1 |"
echo "| retrieval, batch 32, ms/image | $r32 |"
