#!/usr/bin/env bash
# model convert writes preprocessor_config.json through the one writer model random uses, keeping
# the mean and std exactly as the source gives them (Python's json reads the same decimals back:
# 0.48145466, not the float's 0.48145467...): from an HF folder (old "size": 224 form), from an
# open_clip folder (its preprocess_cfg, with geolabel_family open_clip), and from an HF folder
# with values no float holds exactly. model_random.sh checks the random model's file.
set -eu
F=$GEOLABEL_SHARED/fixtures
cp -r "$F/clip-tiny-b32" odd
"$PY" - <<'PYEOF'
import json
p = json.load(open("odd/preprocessor_config.json"))
p["image_mean"], p["image_std"] = [0.1, 0.2, 0.3], [0.7, 0.8, 0.9]
json.dump(p, open("odd/preprocessor_config.json", "w"))
PYEOF
"$GEOLABEL" -q model convert "$F/clip-tiny-b32" -o hf > /dev/null
"$GEOLABEL" -q model convert "$F/openclip/openclip-tiny-quickgelu" -o oc > /dev/null
"$GEOLABEL" -q model convert odd -o odd_out > /dev/null
"$PY" - "$F" <<'PYEOF'
import json, sys
F = sys.argv[1]
load = lambda p: json.load(open(p))
for src, out in ((f"{F}/clip-tiny-b32/preprocessor_config.json", "hf"), ("odd/preprocessor_config.json", "odd_out")):
    s, o = load(src), load(out + "/preprocessor_config.json")
    assert o["image_mean"] == s["image_mean"] and o["image_std"] == s["image_std"], (out, o, s)
    assert o["size"] == {"shortest_edge": s["size"]} and o["crop_size"] == {"height": s["crop_size"], "width": s["crop_size"]}, o
    assert o["resample"] == 3 and o["image_processor_type"] == "CLIPImageProcessor" and "geolabel_family" not in o, o
s = load(f"{F}/openclip/openclip-tiny-quickgelu/open_clip_config.json")["preprocess_cfg"]
o = load("oc/preprocessor_config.json")
assert o["image_mean"] == s["mean"] and o["image_std"] == s["std"] and o["geolabel_family"] == "open_clip", o
print("mean/std kept as given")
PYEOF
