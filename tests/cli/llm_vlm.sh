#!/usr/bin/env bash
# GVL's pipeline against a loopback OpenAI-style server: each patch described by the vision model
# (a PNG of the expected size, GVL's vision prompt), each description classified with GVL's
# classifier messages. One tile answers its class exactly, one in another case with a trailing
# period, one with a class that does not exist (CLIP decides, recorded as clip-fallback), one
# with spaces around. The CSV is read with Python's csv module against GVL's header; token usage
# is summed; the key appears in no output, log or cache file.
set -eu
. "$GEOLABEL_ROOT/tests/cli/llm_lib.inc"
export OPENAI_API_KEY="sk-geolabel-test-$(rand_hex)"
printf 'Water\nBuildings\nForest\nFarmland\n' > classes.txt
cat > scenario.py <<'PYEOF'
import os
API = "openai"
KEY = os.environ["OPENAI_API_KEY"]
PROMPT = "Detailed long description of the image: "
RAW = [
    "<grounding> This is a satellite image. Detailed long description of the image: a river "
    "<phrase>winding</phrase> through GREEN fields\n",
    "Detailed long description of the image:  Dense ROOFTOPS and streets.  ",
    "user\n\nA satellite view. detailed long description of the image: <p>x</p>some trees",
    "Fields of wheat",
]
VISION = dict(model="vis-model", context="This is a satellite image", prompt=PROMPT,
              include_filename=True, include_classes=False, classes=[], stems=["RGB"],
              image_size=None)
CLASSIFY = dict(model="cls-model", include_filename=True,
                tiles=[f"RGB.byte.tif_r{r}_c{c}" for r in range(2) for c in range(2)],
                levels=[["Water", "Buildings", "Forest", "Farmland"]],
                descriptions=[gvl_clean(d, PROMPT) for d in RAW])
ANSWER = {"RGB.byte.tif_r0_c0": "Water", "RGB.byte.tif_r0_c1": "buildings.",
          "RGB.byte.tif_r1_c0": "Spaceport", "RGB.byte.tif_r1_c1": "  Forest \n"}
seen = []
def handle(n, kind, info):
    if kind == "vision":
        seen.append(n)
        return RAW[(len(seen) - 1) % len(RAW)]
    return ANSWER[info["tile"]]
PYEOF
start_server scenario.py
"$GEOLABEL" -v label --model "$M" --classes classes.txt --split 2x2 "$IMG/RGB.byte.tif" \
  --classifier-type vlm-llm --vlm-model vis-model --llm-model cls-model --llm-api openai \
  --llm-base-url "$BASE" --context "This is a satellite image" --include-filename \
  -o out.csv > run.out 2> run.err
no_violations
[ "$(requests)" -eq 8 ] || { echo "expected 4 vision + 4 classifier requests"; cat log.jsonl; exit 1; }
# The CLIP-only run of the same tiles: what the fallback tile must get.
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 "$IMG/RGB.byte.tif" \
  --context "This is a satellite image" -o clip.csv
$PY - <<'PYEOF'
import csv, json, re
GVL = ["filename", "row", "col", "left", "upper", "right", "lower", "classification_mode",
       "description", "classification_tree", "classification"]
rows = list(csv.DictReader(open("out.csv", newline="")))
with open("out.csv", newline="") as f:
    header = next(csv.reader(f))
assert header[:11] == GVL, header
clip = {(r["row"], r["col"]): r for r in csv.DictReader(open("clip.csv", newline=""))}
log = [json.loads(l) for l in open("log.jsonl")]
cls = {e["tile"]: e for e in log if e["kind"] == "classify"}
vis = [e for e in log if e["kind"] == "vision"]
assert len(rows) == 4 and len(cls) == 4 and len(vis) == 4
# every patch went as a PNG, its longer side 448, the other scaled as the tile's
want = sorted((448, int((int(r["upper"]) - int(r["lower"])) * 448 / (int(r["right"]) - int(r["left"])) + 0.5))
              for r in rows)
assert sorted(tuple(e["size"]) for e in vis) == want, (want, [e["size"] for e in vis])
descs = set()
for r in rows:
    tile = f"{r['filename']}_r{r['row']}_c{r['col']}"
    e = cls[tile]
    # the description in the CSV is the one the classifier was given, cleaned as GVL cleans it
    assert r["description"] == e["desc"], (r["description"], e["desc"])
    descs.add(r["description"])
    assert r["classification_tree"] == r["classification"]
    if tile.endswith("r1_c0"):
        assert r["classification_mode"] == "clip-fallback", r
        c = clip[(r["row"], r["col"])]
        assert r["classification"] == c["classification"] and r["score"] == c["score"], (r, c)
        assert "Spaceport" in r["llm_error"], r
    else:
        want = {"r0_c0": "Water", "r0_c1": "Buildings", "r1_c1": "Forest"}[tile[-5:]]
        assert r["classification_mode"] == "llm" and r["classification"] == want, r
        assert r["llm_error"] == "", r
    assert 0 <= float(r["score"]) <= 1
# the four raw answers, cleaned by GVL's own expressions
assert descs == set(json.loads(l)["desc"] for l in open("log.jsonl") if '"classify"' in l)
assert "a river" not in descs and "winding</phrase> through green fields" in descs, descs
assert "dense rooftops and streets." in descs and "some trees" in descs, descs
# tokens: the sums of the server's usage fields
pt = sum(e["prompt_tokens"] for e in log if e["status"] == 200)
ct = sum(e["completion_tokens"] for e in log if e["status"] == 200)
err = open("run.err").read()
m = re.search(r"(\d+) prompt_tokens \+ (\d+) completion_tokens", err)
assert m and (int(m.group(1)), int(m.group(2))) == (pt, ct), (err, pt, ct)
# connections are reused: 8 requests over at most --llm-concurrency (4) connections
assert len({e["peer"] for e in log}) <= 4, {e["peer"] for e in log}
print("vlm-llm ok")
PYEOF
# The same run again: every answer from the cache beside the output, no request.
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 "$IMG/RGB.byte.tif" \
  --classifier-type vlm-llm --vlm-model vis-model --llm-model cls-model --llm-api openai \
  --llm-base-url "$BASE" --context "This is a satellite image" --include-filename \
  -o out.csv 2> rerun.err
[ "$(requests)" -eq 8 ] || { echo "the re-run asked the server again"; exit 1; }
grep -q "8 answers from the cache" rerun.err
# The key is in no file here: outputs, logs, cache entries.
[ -d out.csv.llm-cache ] && [ "$(find out.csv.llm-cache -type f | wc -l)" -eq 8 ]
if grep -rlF "$OPENAI_API_KEY" . ; then echo "the key leaked into the files above"; exit 1; fi
echo "llm_vlm ok"
