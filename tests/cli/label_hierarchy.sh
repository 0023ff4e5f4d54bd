#!/usr/bin/env bash
# Hierarchical labels: a GVL YAML with meta-classes nested to different depths. Each row's
# classification_tree must be a path of the YAML as PyYAML reads it (one label per level, each a
# child of the one before, ending at a leaf), and classification its leaf. --mode flat on the
# same YAML labels among the leaves only.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
IMG=$GEOLABEL_SHARED/data/imagery/RGB.byte.tif
cat > meta.yaml <<'YAML'
Natural:
  Water:
  - river
  - sea
  Vegetation:
  - forest
  - meadow
Built:
- residential
- industrial
Bare: [desert, beach]
YAML
"$GEOLABEL" label --model "$M" --classes meta.yaml --split 4x4 "$IMG" -o h.csv
"$GEOLABEL" label --model "$M" --classes meta.yaml --mode flat --split 4x4 "$IMG" -o f.csv
# One meta-class at the top forces the walk through it: two levels on every row.
printf 'Built:\n- residential\n- industrial\n' > one.yaml
"$GEOLABEL" label --model "$M" --classes one.yaml --split 2x2 "$IMG" -o one.csv
$PY <<'PYEOF'
import csv, yaml
tree = yaml.safe_load(open("meta.yaml"))
def leaves(node):
    if isinstance(node, list):
        return list(node)
    return [l for v in node.values() for l in leaves(v)]
rows = list(csv.DictReader(open("h.csv", newline="")))
assert len(rows) == 16
depths = set()
for r in rows:
    assert r["classification_mode"] == "hierarchical"
    path = r["classification_tree"].split(";")
    node = tree
    for label in path[:-1]:
        assert isinstance(node, dict) and label in node, (path, label)
        node = node[label]
    assert isinstance(node, list) and path[-1] in node, (path, node)
    assert r["classification"] == path[-1]
    depths.add(len(path))
print("depths seen:", sorted(depths))
one = list(csv.DictReader(open("one.csv", newline="")))
assert len(one) == 4
for r in one:
    path = r["classification_tree"].split(";")
    assert path[0] == "Built" and len(path) == 2 and path[1] in ("residential", "industrial"), path
flat = list(csv.DictReader(open("f.csv", newline="")))
assert len(flat) == 16
for r in flat:
    assert r["classification_mode"] == "flat"
    assert r["classification"] in leaves(tree) and r["classification_tree"] == r["classification"]
print("ok")
PYEOF
