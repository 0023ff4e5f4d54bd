#!/usr/bin/env bash
# bench_store.sh: embed once, label many, on a random full-size ViT-B/32 (512-d embeddings): index
# tiles/s next to label's, relabelling 1M synthetic index rows, exact search queries/s at 100K and
# 1M rows, and the store's size per million tiles. Prints Markdown for BENCHMARKS.md. Not a test.
# Usage: bench/bench_store.sh [RUNS]. Env: BUILD (default build), MODEL_DIR, PY, ROWS (1000000).
set -eu
cd "$(dirname "$0")/.."
RUNS=${1:-3}
BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
ROWS=${ROWS:-1000000}
G=$PWD/$BUILD/geolabel
export OPENBLAS_CORETYPE=SKYLAKEX
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
IMG=../shared/data/imagery
make -s -j2 "$BUILD/geolabel" >/dev/null
MODEL=${MODEL_DIR:-$WORK/vit-b-32}
[ -f "$MODEL/model.safetensors" ] || "$G" -q model random --like vit-b-32 -o "$MODEL" >/dev/null
printf '%s\n' water forest grassland cropland buildings road "bare soil" snow wetland "solar farm" \
  > "$WORK/classes.txt"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
idle() { awk '/^cpu /{print $5}' /proc/stat; }

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
i0=$(idle); t0=$(date +%s)
echo "Random ViT-B/32 (F32 weights, 512-d), $cpu, $(nproc) cores, median of $RUNS runs."

# 1. index vs label on the same tiles (the image tower dominates both)
IN="$IMG/RGB.byte.tif $IMG/Kauai.png" # 16 + 9 windows of 224 px
for kind in label index; do
  for r in $(seq "$RUNS"); do
    rm -f "$WORK"/o.*
    # shellcheck disable=SC2086
    if [ $kind = label ]; then
      "$G" label --model "$MODEL" --classes "$WORK/classes.txt" --tile 224 $IN -o "$WORK/o.csv" 2>&1
    else
      "$G" index --model "$MODEL" --tile 224 $IN -o "$WORK/o.gpkg" 2>&1
    fi | sed -n 's/.* \([0-9.]*\) tiles\/s.*/\1/p'
  done | median > "$WORK/$kind.rate"
done
echo
echo "| step | figure |"
echo "|---|---|"
echo "| label, --tile 224 over RGB.byte and Kauai, 25 tiles (tiles/s) | $(cat "$WORK/label.rate") |"
echo "| index, the same tiles (tiles/s) | $(cat "$WORK/index.rate") |"

# 2. a synthetic index of ROWS rows: the real index's metadata and inputs, rows cloned with random
# unit float16 embeddings (written straight with sqlite3: what is timed is reading, not writing)
"$G" -q index --model "$MODEL" --split 2x2 "$IMG/colorado_aerial.tif" -o "$WORK/seed.gpkg"
"$PY" - "$WORK/seed.gpkg" "$WORK" "$ROWS" <<'PYEOF'
import shutil, sqlite3, sys, numpy as np
seed, work, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
for n in sorted({100000, rows}):
    path = "%s/syn%d.gpkg" % (work, n)
    shutil.copy(seed, path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF"); db.execute("PRAGMA synchronous=OFF")
    for t in [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]:
        db.execute('DROP TRIGGER "%s"' % t)  # the R-tree index is not what is measured
    cols = [r[1] for r in db.execute("PRAGMA table_info(tiles)") if r[1] not in ("fid", "embedding")]
    base = db.execute("SELECT %s FROM tiles WHERE nodata = 0 LIMIT 1" % ",".join('"%s"' % c for c in cols)).fetchone()
    db.execute("DELETE FROM tiles")
    rng = np.random.default_rng(1)
    q = "INSERT INTO tiles (fid, %s, embedding) VALUES (%s)" % (",".join('"%s"' % c for c in cols), ",".join("?" * (len(cols) + 2)))
    done = 0
    while done < n:
        k = min(50000, n - done)
        e = rng.standard_normal((k, 512)).astype(np.float32)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        e = e.astype("<f2")
        db.executemany(q, ((done + i + 1,) + base + (e[i].tobytes(),) for i in range(k)))
        done += k
    db.commit()
    db.execute("VACUUM")
    db.close()
PYEOF
size=$(stat -c %s "$WORK/syn$ROWS.gpkg")
# wall and CPU (user + sys) seconds per run: one run's wall time moves by more than a code change
# does, so the spread and the CPU time are printed beside the median
TIMEFORMAT='%R %U %S'
for r in $(seq "$RUNS"); do
  sync
  { time "$G" -q label --from-index "$WORK/syn$ROWS.gpkg" --model "$MODEL" \
    --classes "$WORK/classes.txt" --threads 2 -o "$WORK/rel.csv"; } 2>&1 | tail -n 1
done > "$WORK/relabel.runs"
wall=$(awk '{print $1}' "$WORK/relabel.runs" | median)
spread=$(awk '{print $1}' "$WORK/relabel.runs" | sort -g | sed -n '1p;$p' | paste -sd-)
cpu=$(awk '{print $2 + $3}' "$WORK/relabel.runs" | median)
echo "| label --from-index, $ROWS rows, 10 classes, to CSV (s, whole command: median [min-max]; CPU s) | $wall [$spread]; CPU $cpu |"
for n in 100000 "$ROWS"; do
  for r in $(seq "$RUNS"); do
    "$G" search --index "$WORK/syn$n.gpkg" --tile 1 --top 10 --threads 2 -o "$WORK/hits.csv" 2>&1 |
      sed -n 's/.* in \([0-9.]*\) s .*/\1/p'
  done | median > "$WORK/scan$n"
  echo "| search, $n rows, top 10, 2 threads: queries/s (scan s) | $(echo "scale=2; 1 / $(cat "$WORK/scan$n")" | bc) ($(cat "$WORK/scan$n")) |"
done
echo "| store size, f16, per million tiles (MB) | $(echo "scale=0; $size * 1000000 / $ROWS / 1000000" | bc) |"
i1=$(idle); t1=$(date +%s)
echo
echo "idle share of CPU time during the run: $(echo "scale=2; ($i1 - $i0) / (($t1 - $t0) * $(nproc) * 100)" | bc)"
