#!/usr/bin/env bash
# A hierarchical run with the LLM at both levels, against a local server with no key (so no
# Authorization header may be sent): level 1 asks among the YAML's top level, level 2 among the
# children of the class chosen at level 1. One tile's level-2 answer is not a class: CLIP picks
# among that level's candidates only. One tile's level-1 answer is not a class: CLIP picks the
# meta-class, and the LLM is still asked at level 2. The vision prompt lists the top level
# (--include-classes), as GVL's does. The 395x359 patches (791//2 x 718//2) go as 224x204 PNGs.
# The run is spelled with GVL's option names (--classifier_type huggingface, --vision_model, ...).
set -eu
. "$GEOLABEL_ROOT/tests/cli/llm_lib.inc"
unset OPENAI_API_KEY GEOLABEL_LLM_API_KEY || true
cat > meta.yaml <<'YAML'
Natural:
- Water
- Forest
Built:
- Buildings
- Roads
YAML
cat > scenario.py <<'PYEOF'
API = "openai"
KEY = None
PROMPT = "Describe the image: "
VISION = dict(model="v", context="An aerial photo", prompt=PROMPT, include_filename=True,
              include_classes=True, classes=["Natural", "Built"], stems=["RGB"], image_size=(224, int(359 * 224 / 395 + 0.5)),
              max_tokens=64)
DESC = "Describe the image: fields and a lake"
CLASSIFY = dict(model="c", include_filename=True,
                tiles=[f"RGB.byte.tif_r{r}_c{c}" for r in range(2) for c in range(2)],
                levels=[["Natural", "Built"], ["Water", "Forest"], ["Buildings", "Roads"]],
                descriptions=[gvl_clean(DESC, PROMPT)])
L1 = {"r0_c0": "Natural", "r0_c1": "built!", "r1_c0": "Natural", "r1_c1": "Moon"}
L2 = {"r0_c0": "Water", "r0_c1": "Roads", "r1_c0": "Volcano"}
def handle(n, kind, info):
    if kind == "vision":
        return DESC
    tile = info["tile"][-5:]
    if info["candidates"] == ["Natural", "Built"]:
        return L1[tile]
    return L2.get(tile, info["candidates"][0])
PYEOF
start_server scenario.py
"$GEOLABEL" label --model "$M" --classes meta.yaml --split 2x2 --remainder drop \
  "$IMG/RGB.byte.tif" --classifier_type huggingface --vision_model v --classifier c --vlm-base-url "$BASE" \
  --llm-base-url "$BASE" --context "An aerial photo" --prompt "Describe the image: " \
  --include_filename --include_classes --vlm-size 224 --vlm-max-tokens 64 -o out.csv 2> run.err \
  || { cat run.err; exit 1; }
no_violations
"$GEOLABEL" label --model "$M" --classes meta.yaml --split 2x2 --remainder drop \
  "$IMG/RGB.byte.tif" --context "An aerial photo" -o clip.csv
printf 'Water\nForest\n' > natural.txt
"$GEOLABEL" label --model "$M" --classes natural.txt --split 2x2 --remainder drop \
  "$IMG/RGB.byte.tif" --context "An aerial photo" -o natural.csv
$PY - <<'PYEOF'
import csv, json, yaml
tree = yaml.safe_load(open("meta.yaml"))
rows = {f"r{r['row']}_c{r['col']}": r for r in csv.DictReader(open("out.csv", newline=""))}
clip = {f"r{r['row']}_c{r['col']}": r for r in csv.DictReader(open("clip.csv", newline=""))}
nat = {f"r{r['row']}_c{r['col']}": r for r in csv.DictReader(open("natural.csv", newline=""))}
log = [json.loads(l) for l in open("log.jsonl")]
asks = {}
for e in log:
    if e["kind"] == "classify":
        asks.setdefault(e["tile"][-5:], []).append(e["candidates"])
assert sum(e["kind"] == "vision" for e in log) == 4
for k, r in rows.items():
    path = r["classification_tree"].split(";")
    assert len(path) == 2 and path[1] in tree[path[0]] and r["classification"] == path[1], r
    # the LLM was asked at both levels: the top level, then the chosen meta-class's children
    assert asks[k] == [["Natural", "Built"], tree[path[0]]], (k, asks[k])
assert rows["r0_c0"]["classification_tree"] == "Natural;Water" and rows["r0_c0"]["classification_mode"] == "llm"
assert rows["r0_c1"]["classification_tree"] == "Built;Roads" and rows["r0_c1"]["classification_mode"] == "llm"
r = rows["r1_c0"]
assert r["classification_tree"].startswith("Natural;") and r["classification_mode"] == "clip-fallback", r
assert r["classification"] == nat["r1_c0"]["classification"], (r, nat["r1_c0"])
assert "Volcano" in r["llm_error"]
r = rows["r1_c1"]
assert r["classification_mode"] == "clip-fallback" and "Moon" in r["llm_error"], r
assert r["classification_tree"].split(";")[0] == clip["r1_c1"]["classification_tree"].split(";")[0]
assert r["classification"] == tree[r["classification_tree"].split(";")[0]][0]
assert all(r["description"] == "fields and a lake" for r in rows.values())
print("hierarchical ok")
PYEOF
echo "llm_hier ok"
