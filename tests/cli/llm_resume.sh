#!/usr/bin/env bash
# Re-runs never pay twice: after a full vlm-llm run over two inputs, one input's rows are dropped
# from the output and `--resume` labels it again from the cache beside the output, with zero new
# requests at the server and the same rows as before. --no-llm-cache asks the server again and
# leaves no cache behind; --llm-cache DIR puts the cache where it is told.
set -eu
. "$GEOLABEL_ROOT/tests/cli/llm_lib.inc"
unset OPENAI_API_KEY || true
export GEOLABEL_LLM_API_KEY="local-$(rand_hex)"
printf 'Water\nBuildings\nForest\n' > classes.txt
mkdir in
cp "$IMG/RGB.byte.tif" in/a.tif
cp "$IMG/RGB.byte.tif" in/b.tif
cat > scenario.py <<'PYEOF'
import os
API = "openai"
KEY = os.environ["GEOLABEL_LLM_API_KEY"]
PROMPT = "Detailed long description of the image: "
VISION = dict(model="v", context="This is a satellite image", prompt=PROMPT, include_filename=True,
              include_classes=False, classes=[], stems=["a", "b"], image_size=(448, 407))
CLASSIFY = dict(model="c", include_filename=True,
                tiles=[f"{f}.tif_r{r}_c{c}" for f in "ab" for r in range(2) for c in range(2)],
                levels=[["Water", "Buildings", "Forest"]], descriptions=["a scene"])
def handle(n, kind, info):
    return "a scene" if kind == "vision" else ("Forest" if info["tile"].startswith("a") else "Water")
PYEOF
start_server scenario.py
run() { "$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 --remainder drop \
  --classifier-type vlm-llm --vlm-model v --llm-model c --llm-base-url "$BASE" \
  --include-filename --context "This is a satellite image" "$@"; }
run in -o out.csv 2> run1.err || { cat run1.err; exit 1; }
no_violations
[ "$(requests)" -eq 16 ]
cp out.csv full.csv
$PY - <<'PYEOF'
import csv
rows = list(csv.DictReader(open("out.csv", newline="")))
assert len(rows) == 8 and {r["classification_mode"] for r in rows} == {"llm"}
with open("out.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(r for r in rows if r["filename"] == "a.tif")
PYEOF
run --resume in -o out.csv 2> resume.err || { cat resume.err; exit 1; }
[ "$(requests)" -eq 16 ] || { echo "--resume asked the server again"; exit 1; }
grep -q "0 requests .*, 8 answers from the cache" resume.err
$PY - <<'PYEOF'
import csv
key = lambda r: (r["filename"], r["row"], r["col"])
a = sorted(csv.DictReader(open("full.csv", newline="")), key=key)
b = sorted(csv.DictReader(open("out.csv", newline="")), key=key)
assert a == b, "the resumed output differs"
assert {r["classification"] for r in b if r["filename"] == "b.tif"} == {"Water"}
PYEOF
run --no-llm-cache in -o nocache.csv 2> nocache.err
[ "$(requests)" -eq 32 ] && [ ! -e nocache.csv.llm-cache ]
run --llm-cache elsewhere in -o there.csv 2> there.err
[ "$(requests)" -eq 48 ] && [ -d elsewhere ] && [ ! -e there.csv.llm-cache ]
# A shard's run manifest records the pipeline's choices, and no key (checked below).
run --shard 0/1 in -o shard.csv 2> shard.err
$PY - <<'PYEOF'
import json
o = json.load(open("shard.csv.manifest.json"))
kind, rest = o["llm"].split(" ", 1)  # "TYPE VLM|LLM|prompt|..." as label writes it
assert kind == "2" and rest.split("|")[:2] == ["v", "c"], o
PYEOF
no_violations
if grep -rlF "$GEOLABEL_LLM_API_KEY" . ; then echo "the key leaked"; exit 1; fi
echo "llm_resume ok"
