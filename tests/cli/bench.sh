#!/usr/bin/env bash
# geolabel bench: the --json object's keys and types (checked by Python's json), the median of
# the runs, every dtype the CPU offers on the fixture model, the text tower, and usage errors.
set -euo pipefail
unset GEOLABEL_GEMM # the defaults are checked below, the knob explicitly
MODEL=$GEOLABEL_SHARED/fixtures/clip-tiny-b32

check() { # file tower batch threads tokens dtype runs
  $PY - "$@" <<'PY'
import json, re, statistics, sys
path, tower, batch, threads, tokens, dtype, runs = sys.argv[1:]
lines = open(path).read().splitlines()
assert len(lines) == 1, lines
o = json.loads(lines[0])
assert set(o) == {"tower", "batch", "threads", "tokens", "dtype", "isa", "runs_ms_per_item",
                  "median_ms_per_item"}, sorted(o)
assert o["tower"] == tower and o["batch"] == int(batch) and o["threads"] == int(threads), o
assert o["tokens"] == int(tokens) and o["dtype"] == dtype, o
# our kernels' level, and for bf16 through oneDNN the implementation it chose
assert re.fullmatch(r"(avx2|avx512|amx)( \(oneDNN [a-z0-9_:]+\))?", o["isa"]), o
assert "oneDNN" not in o["isa"] or dtype in ("bf16", "int8"), o
r = o["runs_ms_per_item"]
assert len(r) == int(runs) and all(isinstance(x, (int, float)) and x > 0 for x in r), r
assert abs(statistics.median(r) - o["median_ms_per_item"]) < 1e-3, o
PY
}

"$GEOLABEL" bench --model "$MODEL" --batch 3 --threads 2 --runs 4 --json > a.json
check a.json image 3 2 0 f32 4
"$GEOLABEL" bench --model "$MODEL" --tower text --tokens 9 --threads 1 --runs 3 --json > b.json
check b.json text 1 1 9 f32 3
GEOLABEL_ISA=avx2 "$GEOLABEL" bench --model "$MODEL" --runs 2 --json > c.json
check c.json image 1 "$($PY -c 'import os; print(len(os.sched_getaffinity(0)))')" 0 f32 2
grep -q '"isa":"avx2"' c.json

# GEOLABEL_ISA is a cap: above the CPU's level (amx without AMX) the best level runs, with one
# warning line on stderr; at the CPU's own level nothing is said
native=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["isa"])' a.json)
GEOLABEL_ISA=amx "$GEOLABEL" bench --model "$MODEL" --runs 2 --threads 1 --json > f.json 2> f.err
check f.json image 1 1 0 f32 2
grep -q "\"isa\":\"$native\"" f.json
if [ "$native" = amx ]; then
  [ ! -s f.err ]
else
  [ "$(wc -l < f.err)" -eq 1 ] && grep -q "GEOLABEL_ISA: 'amx' asked for, but this CPU offers at most $native; using $native" f.err
fi
GEOLABEL_ISA=$native "$GEOLABEL" bench --model "$MODEL" --runs 2 --threads 1 --json > g.json 2> g.err
[ ! -s g.err ]

# bf16 and int8 where the CPU has them; otherwise a one-line refusal naming the dtype
for dt in bf16 int8; do
  if "$GEOLABEL" bench --model "$MODEL" --batch 2 --threads 2 --runs 2 --dtype $dt --json > d.json 2> d.err; then
    check d.json image 2 2 0 $dt 2
  else
    grep -q "dtype $dt: needs" d.err
  fi
done
# GEOLABEL_GEMM=dnnl sends bf16 and int8 through oneDNN (the default where the kernels run at amx)
# and the isa says which implementation oneDNN chose; own keeps our kernels; f32 never does
if GEOLABEL_GEMM=dnnl "$GEOLABEL" bench --model "$MODEL" --batch 2 --threads 2 --runs 2 --dtype bf16 --json > h.json 2> h.err; then
  check h.json image 2 2 0 bf16 2
  grep -q "\"isa\":\"$native (oneDNN brg:" h.json
  GEOLABEL_GEMM=own "$GEOLABEL" bench --model "$MODEL" --threads 2 --runs 2 --dtype bf16 --json > i.json
  grep -q "\"isa\":\"$native\"" i.json
  GEOLABEL_GEMM=dnnl "$GEOLABEL" bench --model "$MODEL" --tower text --tokens 6 --threads 2 --runs 2 --dtype bf16 --json > i.json
  check i.json text 1 2 6 bf16 2
  grep -q "\"isa\":\"$native (oneDNN brg:" i.json
  GEOLABEL_GEMM=dnnl "$GEOLABEL" bench --model "$MODEL" --batch 2 --threads 2 --runs 2 --dtype int8 --json > i.json
  check i.json image 2 2 0 int8 2
  grep -q "\"isa\":\"$native (oneDNN brg:" i.json
  GEOLABEL_GEMM=dnnl "$GEOLABEL" bench --model "$MODEL" --threads 2 --runs 2 --json > j.json
  grep -q "\"isa\":\"$native\"" j.json
  "$GEOLABEL" bench --model "$MODEL" --threads 2 --runs 2 --dtype bf16 --json > k.json
  GEOLABEL_ISA=avx512 "$GEOLABEL" bench --model "$MODEL" --threads 2 --runs 2 --dtype bf16 --json > l.json
  grep -q '"isa":"avx512"' l.json
  if [ "$native" = amx ]; then
    grep -q '"isa":"amx (oneDNN brg:avx512_core_amx' k.json
  else
    grep -q "\"isa\":\"$native\"" k.json
  fi
else
  grep -q "dtype bf16: needs" h.err
fi
# int8 keeps the text tower in f32, and says so
if "$GEOLABEL" bench --model "$MODEL" --tower text --tokens 5 --threads 1 --runs 2 --dtype int8 --json > e.json 2>/dev/null; then
  check e.json text 1 1 5 f32 2
fi
# plain output names the tower, dtype and ISA
"$GEOLABEL" bench --model "$MODEL" --runs 2 --threads 1 | grep -Eq '^image tower, batch 1, 1 thread, f32 on (avx2|avx512|amx): median [0-9.]+ ms per image'

# usage errors exit 2 with one line; an unknown GEOLABEL_ISA is an error naming the variable
set +e
"$GEOLABEL" bench --model "$MODEL" --tower audio 2> u.err; [ $? -eq 2 ] || exit 1
grep -q -- "--tower is image or text" u.err || exit 1
"$GEOLABEL" bench --model "$MODEL" --dtype fp16 2> u.err; [ $? -eq 2 ] || exit 1
"$GEOLABEL" bench --model "$MODEL" --tokens 78 2> u.err; [ $? -eq 2 ] || exit 1
"$GEOLABEL" bench 2> u.err; [ $? -eq 2 ] || exit 1
GEOLABEL_ISA=sse9 "$GEOLABEL" bench --model "$MODEL" 2> u.err; [ $? -ne 0 ] || exit 1
grep -q "GEOLABEL_ISA" u.err || exit 1
GEOLABEL_GEMM=mkl "$GEOLABEL" bench --model "$MODEL" --dtype bf16 2> u.err; [ $? -ne 0 ] || exit 1
grep -q "GEOLABEL_GEMM: 'mkl' is not one of dnnl, own" u.err || exit 1
exit 0
