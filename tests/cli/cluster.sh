#!/usr/bin/env bash
# cluster: the 21 UC Merced classes grouped 3,5 in two steps with the tiny CLIP fixture, checked
# against an independent average-linkage + naming written here in Python over embeddings from
# `geolabel embed --text --normalize`; the YAML parses with PyYAML, is deterministic, and (when
# `label` is built) labels a scene hierarchically.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
NAMES=${GEOLABEL_DATA:-$GEOLABEL_ROOT/data}/meta_class_names.txt
printf '%s\n' agricultural airplane baseballdiamond beach buildings chaparral denseresidential \
  forest freeway golfcourse harbor intersection mediumresidential mobilehomepark overpass \
  parkinglot river runway sparseresidential storagetanks tenniscourt > ucm.txt
"$GEOLABEL" cluster --model "$M" --classes ucm.txt --num-clusters 3,5 --steps 2 -o meta.yaml > out.txt
"$GEOLABEL" cluster --model "$M" --classes ucm.txt --num-clusters 3,5 --steps 2 -o again.yaml > /dev/null
cmp meta.yaml again.yaml
# One count serves every step.
"$GEOLABEL" cluster --model "$M" --classes ucm.txt --num-clusters 3 --steps 2 -o same.yaml > /dev/null
# Prompts as geolabel builds them (GL_CLUSTER_TEMPLATE), embedded by another command.
sed 's/.*/a satellite image of &./' ucm.txt > prompts.txt
grep -v '^#' "$NAMES" | sed '/^[[:space:]]*$/d' > names.txt
sed 's/.*/a satellite image of &./' names.txt > name_prompts.txt
mapfile -t P < prompts.txt
mapfile -t NP < name_prompts.txt
"$GEOLABEL" embed --model "$M" --text --normalize -o cls.npy "${P[@]}"
"$GEOLABEL" embed --model "$M" --text --normalize -o names.npy "${NP[@]}"
"$PY" - <<'PYEOF'
import numpy as np, yaml
classes = open("ucm.txt").read().split()
names = [l.strip() for l in open("names.txt") if l.strip()]
E = np.load("cls.npy").astype(np.float64); N = np.load("names.npy").astype(np.float64)
E /= np.linalg.norm(E, axis=1, keepdims=True); N /= np.linalg.norm(N, axis=1, keepdims=True)

def upgma(items, k):
    """Naive average linkage: merge the pair of clusters with the least mean pairwise cosine distance."""
    clusters = [[i] for i in items]
    d = lambda a, b: np.mean([1 - E[i] @ E[j] for i in a for j in b])
    while len(clusters) > k:
        best = min(((d(clusters[a], clusters[b]), a, b) for a in range(len(clusters))
                    for b in range(a + 1, len(clusters))))
        _, a, b = best
        clusters[a] = clusters[a] + clusters[b]; del clusters[b]
    return [sorted(c) for c in clusters]

def build(items, ks):
    """GVL's cluster.py recursion: split, then split each group with the next step's count."""
    if not ks or len(items) <= ks[0]:
        return sorted(classes[i] for i in items)
    return [build(g, ks[1:]) for g in upgma(items, ks[0])]

def canon(t):
    if isinstance(t, list) and all(isinstance(x, str) for x in t): return ("L", tuple(sorted(t)))
    return ("G", frozenset(canon(x) for x in t))

def from_yaml(node):
    if isinstance(node, list): return sorted(node)
    return [from_yaml(v) for v in node.values()]

for path, ks in (("meta.yaml", [3, 5]), ("same.yaml", [3, 3])):
    tree = yaml.safe_load(open(path))
    assert canon(from_yaml(tree)) == canon(build(list(range(len(classes))), ks)), path
    assert len(tree) == 3, path
    # Keys sorted in the file as PyYAML's dump would write them; every class exactly once.
    text = yaml.safe_load(open(path))
    leaves = []
    def walk(n, depth, levels):
        if isinstance(n, list): leaves.extend(n); return
        levels.setdefault(depth, []).extend(n.keys())
        assert list(n.keys()) == sorted(n.keys())
        for v in n.values(): walk(v, depth + 1, levels)
    levels = {}
    walk(tree, 0, levels)
    assert sorted(leaves) == sorted(classes), path
    all_names = [x for v in levels.values() for x in v]
    assert len(all_names) == len(set(all_names)), "names unique in the tree"
    assert all(x in names and x.lower() not in classes for x in all_names)

# Naming, level 1: the best (group, candidate) pair first, by cosine of the group's mean.
tree = yaml.safe_load(open("meta.yaml"))
def members(n): return [classes.index(c) for c in (n if isinstance(n, list) else [c for v in n.values() for c in (v if isinstance(v, list) else [cc for vv in v.values() for cc in vv])])]
groups = [members(v) for v in tree.values()]
def centroid(g):
    c = E[g].mean(axis=0); return c / np.linalg.norm(c)
S = np.array([[centroid(g) @ N[j] for j in range(len(names))] for g in groups])
for j, nm in enumerate(names):
    if nm.lower() in classes: S[:, j] = -np.inf
assigned = {}
while len(assigned) < len(groups):
    g, j = max(((g, j) for g in range(len(groups)) if g not in assigned for j in range(len(names))
                if j not in assigned.values()), key=lambda gj: S[gj])
    assigned[g] = j
assert sorted(tree.keys()) == sorted(names[j] for j in assigned.values()), (list(tree), [names[j] for j in assigned.values()])
for g, key in enumerate(tree.keys()):
    assert names[assigned[g]] == key, (key, names[assigned[g]])
print("cluster ok:", list(tree.keys()))
PYEOF
grep -q "wrote meta.yaml: 21 classes in 3 meta-classes" out.txt
# Bad input: more meta-classes than classes, and counts that do not match the steps.
printf 'a\nb\n' > two.txt
if "$GEOLABEL" cluster --model "$M" --classes two.txt --num-clusters 3 -o x.yaml 2> err.txt; then exit 1; fi
grep -q "2 classes cannot be grouped into 3" err.txt
if "$GEOLABEL" cluster --model "$M" --classes ucm.txt --num-clusters 3,5 --steps 3 -o x.yaml 2> err.txt; then exit 1; fi
grep -q "2 cluster counts given for 3 steps" err.txt
# The hierarchy feeds `label --mode hierarchical` when that command is built.
if "$GEOLABEL" label --help > /dev/null 2>&1; then
  gdal_create -q -of GTiff -outsize 64 64 -bands 3 -burn 90 -burn 140 -burn 60 scene.tif
  "$GEOLABEL" label --model "$M" --classes meta.yaml --mode hierarchical --split 2x2 scene.tif -o labels.csv
  "$PY" - <<'PYEOF'
import csv, yaml
tree = yaml.safe_load(open("meta.yaml"))
rows = list(csv.DictReader(open("labels.csv", newline="")))
assert len(rows) == 4
for r in rows:
    path = r["classification_tree"].split(";")
    node = tree
    for p in path[:-1]:
        node = node[p]
    assert path[-1] in (node if isinstance(node, list) else node.keys()), path
    assert r["classification"] == path[-1] and r["classification_mode"] == "hierarchical"
print("label --mode hierarchical ok")
PYEOF
fi
