#!/usr/bin/env bash
# A torn index resumes: `geolabel index` killed with kill -9 at random moments (three times, the
# later kills hitting resumed runs) leaves STEM.part.gpkg; `--resume` finishes it, and the result
# holds exactly the tiles of an uninterrupted run (each once, in tiling order per input, embeddings
# equal within float16 rounding), read with Python's sqlite3. A resume with other options or
# another model is refused, naming what differs.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
OTHER=$GEOLABEL_SHARED/fixtures/clip-tiny-l14-336
IMG=$GEOLABEL_SHARED/data/imagery
set -- "$IMG/RGB.byte.tif" "$IMG/colorado_aerial.tif" "$IMG/Kauai.png"
t0=$(date +%s.%N)
"$GEOLABEL" -q index --model "$M" --tile 40 --threads 1 "$@" -o ref.gpkg
t1=$(date +%s.%N)
# Kills at fractions of an uninterrupted run's time, so they land mid-run on a fast or a busy machine.
delays=$(echo "$t0 $t1" | awk '{d = $2 - $1; printf "%.2f %.2f %.2f %.2f %.2f", d * 0.35, d * 0.3, d * 0.3, d * 0.35, d * 0.3}')
kills=0 refused=""
for delay in $delays; do
  resume=""
  [ -e out.part.gpkg ] && resume=--resume
  "$GEOLABEL" -q index --model "$M" --tile 40 --threads 1 $resume "$@" -o out.gpkg &
  pid=$!
  sleep "$delay"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  [ -e out.gpkg ] && break
  if [ -z "$refused" ] && [ -e out.part.gpkg ]; then
    # A torn index does not resume with other options or another model.
    if "$GEOLABEL" -q index --model "$M" --tile 48 --threads 1 --resume "$@" -o out.gpkg 2> err.txt; then
      echo "a resume with another --tile was accepted"; exit 1
    fi
    grep -q "was made with tiling 'tile 40 overlap 0', this run has 'tile 48 overlap 0'" err.txt
    if "$GEOLABEL" -q index --model "$OTHER" --tile 40 --threads 1 --resume "$@" -o out.gpkg 2> err.txt; then
      echo "a resume with another model was accepted"; exit 1
    fi
    grep -q "out.part.gpkg was made with model_hash '[0-9a-f]*', this run has '[0-9a-f]*'" err.txt
    refused=1
  fi
done
echo "killed $kills times"
[ "$kills" -ge 1 ] && [ -n "$refused" ] || { echo "the index finished before any kill: too fast to test"; exit 1; }
[ -e out.gpkg ] || "$GEOLABEL" -q index --model "$M" --tile 40 --threads 1 --resume "$@" -o out.gpkg
[ -e out.gpkg ] && [ ! -e out.part.gpkg ]
"$PY" - <<'PYEOF'
import sqlite3, numpy as np
def load(p):
    db = sqlite3.connect(p)
    t = db.execute("SELECT input, tile, nodata, embedding FROM tiles ORDER BY fid").fetchall()
    i = db.execute("SELECT input, tiles, complete FROM geolabel_inputs ORDER BY id").fetchall()
    return t, i
rt, ri = load("ref.gpkg")
ot, oi = load("out.gpkg")
assert oi == ri, (oi, ri)
keys = [(a, b) for a, b, _, _ in ot]
assert len(keys) == len(set(keys)), "duplicate tiles"
assert sorted(keys) == sorted((a, b) for a, b, _, _ in rt), "different tiles"
for inp in set(a for a, _ in keys):  # per input, tiles in tiling order
    seq = [b for a, b in keys if a == inp]
    assert seq == sorted(seq), inp
ref = {(a, b): (n, e) for a, b, n, e in rt}
worst = 0
for a, b, n, e in ot:
    rn, re = ref[(a, b)]
    assert n == rn
    if e is not None:
        worst = max(worst, np.abs(np.frombuffer(e, "<f2").astype(np.float32) - np.frombuffer(re, "<f2").astype(np.float32)).max())
assert worst < 2e-3, worst
print("resumed index equal to the uninterrupted one:", len(ot), "tiles, max diff", worst)
PYEOF
echo ok
