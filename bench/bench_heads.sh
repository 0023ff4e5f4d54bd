#!/usr/bin/env bash
# bench_heads.sh: Geograph head benchmarks (not tests). Usage: bench/bench_heads.sh [build-dir]
#  1. training throughput (samples/s, training pass only, median of epochs 2..) on a synthetic
#     130k-row data set of the real shapes with the reference recipe, geolabel vs PyTorch
#     (Debian python3-torch, OPENBLAS_CORETYPE=SKYLAKEX) at 1 and 2 threads, in the same run;
#  2. data set parsing: rows/s and peak RSS (/usr/bin/time -v) of `dataset stats` on a 1M-row
#     synthetic JSONL (generated here, deleted afterwards);
#  3. predict rows/s on the 130k rows (JSONL parsing included).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
G=$PWD/$BUILD/geolabel
PY=${PY:-/usr/bin/python3}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export OPENBLAS_CORETYPE=SKYLAKEX
gen() { # rows out
  "$PY" - "$1" "$2" <<'PYEOF'
import sys, json, base64, numpy as np
n, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
tags = ["Aerial", "Close Look", "Cross Grid", "Extra", "Geograph", "Inside", "From Above", "Supplemental"]
dists = ["16", "32", "64", "128", "256", "512", "1024", "Unknown", "", "0"]
with open(out, "w") as f:
    for i0 in range(0, n, 10000):
        X = (rng.normal(size=(min(10000, n - i0), 512)) * 0.5).astype("<f4")
        t = rng.integers(0, 8, size=(len(X), 2))
        for j, x in enumerate(X):
            i = i0 + j
            f.write(json.dumps({"gridimage_id": 1000000 + i, "types": ",".join(sorted({tags[t[j, 0]], tags[t[j, 1]]})),
                                "distance": dists[i % 10], "embeddings": base64.b64encode(x.tobytes()).decode(),
                                "split": "tra" if i % 10 < 8 else ("val" if i % 10 == 8 else "tes"),
                                "weight": [1.0, 0.5, 0.2][i % 3]}) + "\n")
PYEOF
}
echo "== $(date -u) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
gen 130000 "$W/d130k.jsonl"
NTRA=$(grep -c '"split": "tra"' "$W/d130k.jsonl")
for T in 1 2; do
  "$G" train --data "$W/d130k.jsonl" -o "$W/h.safetensors" --epochs 4 --patience 100 --threads $T 2> "$W/train.log"
  S=$(grep -o 'train [0-9.]* s' "$W/train.log" | awk 'NR>1{print $2}' | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  OURS=$(awk -v n=$NTRA -v s=$S 'BEGIN{printf "%.0f", n/s}')
  TORCH=$(OPENBLAS_NUM_THREADS=$T "$PY" bench/torch_heads.py --data "$W/d130k.jsonl" --threads $T --epochs 4 | sed 's/.*samples_per_s=//')
  echo "train threads=$T geolabel ${OURS} samples/s  torch ${TORCH} samples/s  ratio $(awk -v a=$OURS -v b=$TORCH 'BEGIN{printf "%.2f", a/b}')"
done
TREF=$(OPENBLAS_NUM_THREADS=1 "$PY" bench/torch_heads.py --data "$W/d130k.jsonl" --threads 1 --epochs 2 --mode reference | sed 's/.*samples_per_s=//')
echo "train threads=1 torch reference DataLoader pipeline ${TREF} samples/s"
for T in 1 2; do
  t0=$(date +%s.%N)
  "$G" predict --head "$W/h.safetensors" --data "$W/d130k.jsonl" -o "$W/p.csv" --threads $T
  t1=$(date +%s.%N)
  echo "predict threads=$T $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.0f", 130000/(b-a)}') rows/s (130k rows, parsing included)"
done
rm -f "$W/d130k.jsonl"
gen 1000000 "$W/d1m.jsonl"
echo "1M-row file: $(du -h "$W/d1m.jsonl" | cut -f1)"
/usr/bin/time -v "$G" dataset stats --data "$W/d1m.jsonl" > /dev/null 2> "$W/time.log"
SEC=$(grep "Elapsed (wall clock)" "$W/time.log" | awk '{print $NF}' | awk -F: '{print ($1*60)+$2}')
RSS=$(grep "Maximum resident" "$W/time.log" | awk '{print $NF}')
echo "dataset stats 1M rows: $(awk -v s=$SEC 'BEGIN{printf "%.0f", 1000000/s}') rows/s, ${SEC} s, peak RSS $((RSS / 1024)) MB"
