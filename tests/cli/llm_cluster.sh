#!/usr/bin/env bash
# cluster --llm: GVL's two prompts (name the clusters, then place each class) at each of two
# steps, the names cleaned as cluster.py cleans them, answers matched exactly, case-insensitively
# and by one name inside the other; a class the LLM places nowhere is re-asked once, then CLIP
# places it; a named cluster that gets no class is dropped. Every class lands exactly once, and
# the YAML has the CLIP clustering's form (label --mode hierarchical reads it).
set -eu
. "$GEOLABEL_ROOT/tests/cli/llm_lib.inc"
export OPENAI_API_KEY="sk-cluster-$(rand_hex)"
printf 'river\nlake\nsea\nforest\nmeadow\nresidential\nindustrial\nroad\n' > classes.txt
cat > scenario.py <<'PYEOF'
import os, re
API = "openai"
KEY = os.environ["OPENAI_API_KEY"]
ALL = ["river", "lake", "sea", "forest", "meadow", "residential", "industrial", "road"]
NAT = ALL[:5]
VISION = dict(stems=[])
CLASSIFY = dict(model="x", include_filename=False, tiles=[], levels=[], descriptions=[])
CLUSTER = dict(model="grouper",
               groups=[(ALL, 2), (NAT, 2), (NAT + ["road"], 2), (ALL[5:], 2)],
               name_sets=[["Natural", "Builtup"], ["Water", "Green", "Empty"], ["Homes", "Work"]],
               classes=ALL)
PLACE = {"river": "Cat: Natural", "lake": "Cat: Natural", "sea": "Cat: Natural",
         "forest": "Cat: Natural", "meadow": "Cat: Natural", "residential": "Cat: builtup",
         "industrial": "Category: Built", "road": "Cat: Space"}
def handle(n, kind, info):
    what, a, b = info["cluster"]
    if what == "names":
        if a == ALL:
            return "Here you go:\nCluster_1: [Natural]\nCluster_2: Built-up\nCluster_2: Built-up\n"
        if "river" in a:
            return "Cluster_1: Water\nCluster_2: Green\nCluster_3: Empty"
        return "Cluster_1: Homes\nCluster_2: Work"
    names, cls = a, b
    if names == ["Natural", "Builtup"]:
        return "Cat: still nothing" if info["reask"] else PLACE[cls]
    if names[0] == "Water":
        return "Cat: Water" if cls in ("river", "lake", "sea") else "Cat: Green" if cls != "road" else "Cat: ?"
    return "Cat: Homes" if cls == "residential" else "Cat: Work"
PYEOF
start_server scenario.py
"$GEOLABEL" -v cluster --llm --llm-model grouper --llm-base-url "$BASE" --llm-api openai \
  --model "$M" --classes classes.txt --num-clusters 2 --steps 2 -o meta.yaml > run.out 2> run.err \
  || { cat run.err; exit 1; }
no_violations
cat meta.yaml
$PY - <<'PYEOF'
import json, re, yaml
tree = yaml.safe_load(open("meta.yaml"))
def leaves(node):
    return list(node) if isinstance(node, list) else [l for v in node.values() for l in leaves(v)]
all_ = [l.strip() for l in open("classes.txt")]
got = leaves(tree)
assert sorted(got) == sorted(all_) and len(got) == len(set(got)), got
# cluster.py's cleaning of "[Natural]" and "Built-up"
clean = lambda s: re.sub(r"[^a-zA-Z0-9_\s]", "", s).strip()
assert set(tree) == {clean("[Natural]"), clean("Built-up")}, tree
nat = tree["Natural"]
assert isinstance(nat, dict) and "Empty" not in nat, nat
assert set(nat["Water"]) - {"road"} == {"river", "lake", "sea"}
assert set(nat["Green"]) - {"road"} == {"forest", "meadow"}
assert set(leaves(tree["Builtup"])) >= {"residential", "industrial"}
log = [json.loads(l) for l in open("log.jsonl")]
road = [e for e in log if e["cluster"][0] == "assign" and e["cluster"][2] == "road"
        and e["cluster"][1] == ["Natural", "Builtup"]]
assert [e["reask"] for e in road] == [False, True], road
# no other class was re-asked at the top level
# (nor at the second, but road, when CLIP put it among the natural classes)
assert sum(e["reask"] for e in log) == 1 + ("road" in leaves(nat)), log
print("cluster --llm ok")
PYEOF
"$GEOLABEL" label --model "$M" --classes meta.yaml --mode hierarchical --split 2x2 \
  "$IMG/RGB.byte.tif" -o labels.csv
if grep -rlF "$OPENAI_API_KEY" . ; then echo "the key leaked"; exit 1; fi
echo "llm_cluster ok"
