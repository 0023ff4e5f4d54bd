#!/usr/bin/env bash
# Azure OpenAI: requests go to {endpoint}/openai/deployments/{deployment}/chat/completions with
# ?api-version= from AZURE_OPENAI_API_VERSION, the key in an api-key header (never a Bearer
# header, and never the OpenAI key that is also set). --apply-vision-template sends GVL's chat
# template parts as separate text parts. One patch's vision request is refused (HTTP 400, as
# Azure's content filter answers): that tile gets no description, CLIP decides it
# (clip-fallback) and llm_error says why. No key in any output, log or cache file, even with -vv.
set -eu
. "$GEOLABEL_ROOT/tests/cli/llm_lib.inc"
export AZURE_OPENAI_API_KEY="az-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export OPENAI_API_KEY="sk-other-$(rand_hex)"
export AZURE_OPENAI_API_VERSION=2024-06-01
printf 'Water\nBuildings\n' > classes.txt
cat > scenario.py <<'PYEOF'
import os
API = "azure"
KEY = os.environ["AZURE_OPENAI_API_KEY"]
API_VERSION = "2024-06-01"
PROMPT = "Detailed long description of the image: "
VISION = dict(model="vision-dep", context="This is a satellite image", prompt=PROMPT,
              include_filename=False, include_classes=True, classes=["Water", "Buildings"],
              stems=["RGB"], image_size=(448, int(359 * 448 / 395 + 0.5)), template=True)
CLASSIFY = dict(model="classifier-dep", include_filename=False, tiles=[],
                levels=[["Water", "Buildings"]], descriptions=["the sea"])
FILTERED = (b'{"error":{"code":"content_filter","message":"The response was filtered due to the '
            b'prompt triggering content management policy."}}')
def handle(n, kind, info):
    if kind == "vision":
        return Raw(400, FILTERED) if n == 1 else "The sea"
    return "WATER?"
PYEOF
start_server scenario.py
export AZURE_OPENAI_ENDPOINT="http://127.0.0.1:$PORT/"
"$GEOLABEL" -vv label --model "$M" --classes classes.txt --split 2x2 --remainder drop "$IMG/RGB.byte.tif" \
  --classifier-type vlm-llm --llm-api azure --vlm-model vision-dep --llm-model classifier-dep \
  --apply-vision-template --include-classes --context "This is a satellite image" \
  --llm-cache cache -o out.gpkg > run.out 2> run.err || { cat run.err; exit 1; }
no_violations
$PY - <<'PYEOF'
import json
from osgeo import ogr
log = [json.loads(l) for l in open("log.jsonl")]
assert log and all(e["path"].startswith("/openai/deployments/") and e["path"].endswith("?api-version=2024-06-01") for e in log)
vis = [e for e in log if e["kind"] == "vision"]
assert vis and all(e["path"].startswith("/openai/deployments/vision-dep/") for e in vis)
ds = ogr.Open("out.gpkg")
lyr = ds.GetLayer(0)
modes = []
for f in lyr:
    modes.append(f.GetField("classification_mode"))
    if modes[-1] == "llm":
        assert f.GetField("description") == "the sea", f.GetField("description")
        assert f.GetField("classification") == "Water" and not f.GetField("llm_error")
    else:
        assert modes[-1] == "clip-fallback" and f.GetField("description") == "", modes
        err = f.GetField("llm_error")
        assert err.startswith("vision: ") and "HTTP 400" in err and "filtered" in err, err
        assert f.GetField("classification") in ("Water", "Buildings")
assert sorted(modes) == ["clip-fallback", "llm", "llm", "llm"], modes
assert len(vis) == 4 and sum(e["kind"] == "classify" for e in log) == 3, log
print("azure ok")
PYEOF
if grep -rlF -e "$AZURE_OPENAI_API_KEY" -e "$OPENAI_API_KEY" . ; then echo "a key leaked"; exit 1; fi
echo "llm_azure ok"
