#!/usr/bin/env bash
# --llm-concurrency N: with every answer taking 0.5 s, the server sees at most N requests at once
# and, with 8 tiles, exactly N at some moment; 1 means one at a time. The endpoint comes from
# $OPENAI_BASE_URL (no --llm-base-url), as with the OpenAI SDK.
set -eu
. "$GEOLABEL_ROOT/tests/cli/llm_lib.inc"
export OPENAI_API_KEY="sk-conc-$(rand_hex)"
printf 'Water\nForest\n' > classes.txt
write_descriptions 2 4 'tile {r} {c}'
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
