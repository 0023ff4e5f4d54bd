#!/usr/bin/env bash
# demo.sh: the README's main job on data/samples: pull openai/clip-vit-base-patch32 from the Hub,
# label the sample scenes (flat and hierarchical), draw overlays and a collage into ./demo-out/.
# Where the Hub is unreachable it says so loudly and uses a random-weight model instead.
# GEOLABEL_OFFLINE=1 skips the Hub altogether and uses the random model (what `make check` runs:
# the pipeline end to end, with no network).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GEOLABEL=${GEOLABEL:-$ROOT/build/geolabel}
SAMPLES=$ROOT/data/samples
OUT=${DEMO_OUT:-$PWD/demo-out}
MODEL_ID=openai/clip-vit-base-patch32
CACHE=${GEOLABEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/geolabel}

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

[ -x "$GEOLABEL" ] || die "$GEOLABEL is not built: run 'make -j2' first"
[ -d "$SAMPLES" ] || die "$SAMPLES is missing"
mkdir -p "$OUT" || die "cannot create $OUT"

use_random() {
  meaningful=0
  MODEL=$CACHE/models/random-vit-b-32
  if [ ! -f "$MODEL/model.safetensors" ]; then
    say "writing a random-weight vit-b-32 model to $MODEL"
    "$GEOLABEL" model random --like vit-b-32 --seed 1 -o "$MODEL"
  fi
}

meaningful=1
if [ "${GEOLABEL_OFFLINE:-0}" = 1 ]; then
  say "GEOLABEL_OFFLINE=1: not contacting the Hub; using a RANDOM-WEIGHT vit-b-32 (labels are meaningless)"
  use_random
else
  say "pulling $MODEL_ID from the Hugging Face Hub (into $CACHE)"
  if "$GEOLABEL" model pull "$MODEL_ID"; then
    MODEL=$MODEL_ID
  else
    cat >&2 <<EOF

################################################################################
##  THE HUGGING FACE HUB IS UNREACHABLE: $MODEL_ID could not be downloaded.
##  Falling back to a RANDOM-WEIGHT ViT-B/32 from 'geolabel model random'.
##  The pipeline runs end to end, but THE LABELS BELOW ARE MEANINGLESS.
##  Re-run this script with network access (or set HF_ENDPOINT to a mirror).
################################################################################

EOF
    use_random
  fi
fi

IMAGES=("$SAMPLES"/*.tif "$SAMPLES"/*.jpg)
say "labelling ${#IMAGES[@]} sample scenes (2x2 tiles) with $MODEL"
"$GEOLABEL" label --model "$MODEL" --classes "$SAMPLES/classes.txt" --split 2x2 \
  -o "$OUT/labels.csv" "${IMAGES[@]}"
"$GEOLABEL" label --model "$MODEL" --classes "$SAMPLES/hierarchy.yaml" --mode hierarchical \
  --split 2x2 -o "$OUT/labels_hierarchical.csv" "${IMAGES[@]}"
"$GEOLABEL" label --model "$MODEL" --classes "$SAMPLES/classes.txt" --split 2x2 \
  -o "$OUT/labels.geojson" "$SAMPLES/colorado_aerial.tif"

say "drawing overlays"
written=("$OUT/labels.csv" "$OUT/labels_hierarchical.csv" "$OUT/labels.geojson")
for img in "${IMAGES[@]}"; do
  name=$(basename "${img%.*}")
  "$GEOLABEL" show --labels "$OUT/labels_hierarchical.csv" --image "$img" \
    -o "$OUT/${name}_overlay.png" > /dev/null
  written+=("$OUT/${name}_overlay.png")
done
"$GEOLABEL" show --labels "$OUT/labels.csv" --image "$SAMPLES/rs5m_golf.jpg" --collage \
  -o "$OUT/rs5m_golf_collage.png" > /dev/null
written+=("$OUT/rs5m_golf_collage.png")

say "wrote:"
for f in "${written[@]}"; do printf '  %s\n' "$f"; done
if [ "$meaningful" = 0 ]; then
  say "REMINDER: these labels come from RANDOM weights (offline or Hub unreachable); they are meaningless."
fi
