#!/usr/bin/env bash
# Faults, one per tile, with --classifier-type llm (descriptions from a CSV): 429 with Retry-After,
# 500 then an answer, a timeout then an answer, a truncated body then an answer (each retried and
# then decided by the LLM); a malformed JSON body, empty choices, finish_reason length, a refusal,
# an HTML 502 page every time, JSON sent as text/plain, an HTML 404 page (each a CLIP fallback
# with its reason in llm_error); a tile with no description (CLIP, no request). None crashes.
# Then the circuit: every request failing stops the run with one clear line, output untouched.
set -eu
. "$GEOLABEL_ROOT/tests/cli/llm_lib.inc"
export OPENAI_API_KEY="sk-geolabel-faults-$(rand_hex)"
printf 'Water\nBuildings\nForest\n' > classes.txt
write_descriptions 3 4 'tile {r} {c}, a "quoted", place' 2,3
cat > scenario.py <<'PYEOF'
import json, os
API = "openai"
KEY = os.environ["OPENAI_API_KEY"]
TILES = [f"RGB.byte.tif_r{r}_c{c}" for r in range(3) for c in range(4)]
VISION = dict(stems=[])
CLASSIFY = dict(model="m", include_filename=False, tiles=TILES,
                levels=[["Water", "Buildings", "Forest"]],
                descriptions=[f"tile {r} {c}, a \"quoted\", place" for r in range(3) for c in range(4)])
attempts = {}
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
def handle(n, kind, info):
    # the classifier text names no tile (no --include-filename): the description does
    r, c = info["desc"].split(",")[0].split()[1:3]
    key = f"r{r}_c{c}"
    k = attempts[key] = attempts.get(key, 0) + 1
    if key == "r0_c0":
        return Raw(429, b'{"error":{"message":"slow down"}}', {"Retry-After": "1"}) if k == 1 else "Water"
    if key == "r0_c1":
        return Raw(500, b'{"error":{"message":"boom"}}') if k == 1 else "Buildings"
    if key == "r0_c2":
        return Raw(200, completion("Forest", 1, 1, "m"), delay=3) if k == 1 else "Forest"
    if key == "r0_c3":
        return Raw(200, completion("Water", 1, 1, "m"), cut=True) if k == 1 else "Water"
    if key == "r1_c0":
        return Raw(200, b'{"choices": [{"message": {"content": "Wat')
    if key == "r1_c1":
        return Raw(200, completion(None, 1, 0, "m", choices=False))
    if key == "r1_c2":
        return Raw(200, completion("Wat", 1, 1, "m", finish="length"))
    if key == "r2_c0":
        return Raw(200, completion(None, 1, 1, "m", refusal="I cannot help with that."))
    if key == "r2_c1":
        return Raw(502, HTML, {"Content-Type": "text/html"})
    if key == "r2_c2":
        return Raw(200, completion("Water", 1, 1, "m"), {"Content-Type": "text/plain"})
    if key == "r1_c3":
        return Raw(404, b"<html>Not Found</html>", {"Content-Type": "text/html"})
    raise AssertionError(key)
PYEOF
start_server scenario.py
"$GEOLABEL" -v label --model "$M" --classes classes.txt --split 3x4 "$IMG/RGB.byte.tif" \
  --classifier-type llm --llm-model m --descriptions desc.csv --llm-base-url "$BASE" \
  --llm-api openai --llm-retries 2 --llm-backoff 0.05 --llm-timeout 1 --llm-max-failures 100 \
  -o out.csv 2> run.err || { cat run.err; exit 1; }
no_violations
"$GEOLABEL" label --model "$M" --classes classes.txt --split 3x4 "$IMG/RGB.byte.tif" -o clip.csv
$PY - <<'PYEOF'
import csv, json
rows = {f"r{r['row']}_c{r['col']}": r for r in csv.DictReader(open("out.csv", newline=""))}
clip = {f"r{r['row']}_c{r['col']}": r for r in csv.DictReader(open("clip.csv", newline=""))}
log = [json.loads(l) for l in open("log.jsonl")]
per = {}
for e in log:
    r, c = e["desc"].split(",")[0].split()[1:3]
    per.setdefault(f"r{r}_c{c}", []).append(e)
assert len(rows) == 12
ok = {"r0_c0": "Water", "r0_c1": "Buildings", "r0_c2": "Forest", "r0_c3": "Water"}
for k, want in ok.items():
    assert rows[k]["classification_mode"] == "llm" and rows[k]["classification"] == want, rows[k]
    assert len(per[k]) == 2, (k, per[k])
# Retry-After: 1 was honoured
gap = per["r0_c0"][1]["t"] - per["r0_c0"][0]["t"]
assert gap >= 0.95, gap
why = {"r1_c0": "not a JSON object", "r1_c1": "no choices", "r1_c2": "finish_reason length",
       "r2_c0": "refused", "r2_c1": "HTTP 502", "r2_c2": "not JSON", "r1_c3": "HTTP 404"}
for k, reason in why.items():
    r = rows[k]
    assert r["classification_mode"] == "clip-fallback", r
    assert reason in r["llm_error"], (k, r["llm_error"])
    assert r["classification"] == clip[k]["classification"], (r, clip[k])
# 502 is retried (2 retries: 3 attempts); the others are not
assert len(per["r2_c1"]) == 3 and all(len(per[k]) == 1 for k in why if k != "r2_c1"), per
r = rows["r2_c3"]
assert r["classification_mode"] == "clip" and "no description" in r["llm_error"], r
assert "r2_c3" not in per
print("faults ok")
PYEOF
# The circuit: everything fails; after 3 in a row the run stops with one clear line, and the
# earlier output stays as it was.
cp out.csv before.csv
cat > scenario.py <<'PYEOF'
import os
API = "openai"
KEY = os.environ["OPENAI_API_KEY"]
VISION = dict(stems=[])
CLASSIFY = dict(model="m", include_filename=False,
                tiles=[f"RGB.byte.tif_r{r}_c{c}" for r in range(3) for c in range(4)],
                levels=[["Water", "Buildings", "Forest"]],
                descriptions=[f"tile {r} {c}, a \"quoted\", place" for r in range(3) for c in range(4)])
def handle(n, kind, info):
    return Raw(503, b"<html>down</html>", {"Content-Type": "text/html"})
PYEOF
stop_server
start_server scenario.py
if "$GEOLABEL" label --model "$M" --classes classes.txt --split 3x4 "$IMG/RGB.byte.tif" \
  --classifier-type llm --llm-model m --descriptions desc.csv --llm-base-url "$BASE" \
  --llm-api openai --llm-retries 0 --llm-max-failures 3 --llm-concurrency 1 \
  -o out.csv 2> circuit.err; then echo "the run should have stopped"; exit 1; fi
no_violations
cat circuit.err
grep -q "3 requests in a row failed" circuit.err
grep -q "HTTP 503" circuit.err
[ "$(requests)" -eq 3 ]
cmp out.csv before.csv
if grep -rlF "$OPENAI_API_KEY" . ; then echo "the key leaked"; exit 1; fi
echo "llm_faults ok"
