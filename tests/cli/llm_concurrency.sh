#!/usr/bin/env bash
# --llm-concurrency N: with every answer taking 0.5 s, the server sees at most N requests at once
# and, with 8 tiles, exactly N at some moment; 1 means one at a time. The endpoint comes from
# $OPENAI_BASE_URL (no --llm-base-url), as with the OpenAI SDK.
set -eu
. "$GEOLABEL_ROOT/tests/cli/llm_lib.inc"
export OPENAI_API_KEY="sk-conc-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf 'Water\nForest\n' > classes.txt
$PY - <<'PYEOF'
import csv
with open("desc.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["filename", "row", "col", "description"])
    for r in range(2):
        for c in range(4):
            w.writerow(["RGB.byte.tif", r, c, f"tile {r} {c}"])
PYEOF
cat > scenario.py <<'PYEOF'
import os, time
API = "openai"
KEY = os.environ["OPENAI_API_KEY"]
VISION = dict(stems=[])
CLASSIFY = dict(model="m", include_filename=False, tiles=[], levels=[["Water", "Forest"]],
                descriptions=[f"tile {r} {c}" for r in range(2) for c in range(4)])
def handle(n, kind, info):
    time.sleep(0.5)
    return "Water"
PYEOF
start_server scenario.py
export OPENAI_BASE_URL=$BASE
for n in 4 1; do
  rm -f log.jsonl; touch log.jsonl
  "$GEOLABEL" label --model "$M" --classes classes.txt --split 2x4 "$IMG/RGB.byte.tif" \
    --classifier-type llm --llm-model m --descriptions desc.csv --llm-api openai \
    --llm-concurrency $n --no-llm-cache -o out$n.csv 2> run$n.err || { cat run$n.err; exit 1; }
  no_violations
  $PY - $n <<'PYEOF'
import json, sys
n = int(sys.argv[1])
log = [json.loads(l) for l in open("log.jsonl")]
assert len(log) == 8
peak = max(e["inflight"] for e in log)
assert peak == n, (peak, n)
print("concurrency", n, "ok")
PYEOF
done
echo "llm_concurrency ok"
