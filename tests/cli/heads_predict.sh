#!/usr/bin/env bash
# predict and dataset targets against the fixtures: the four published checkpoints' probabilities
# on expected/inputs.jsonl (1e-4), the demo's labels column recomputed in Python, the targets, and a
# head .safetensors written independently by Python (struct + json) from torch.load's tensors.
set -euo pipefail
F=$GEOLABEL_SHARED/fixtures/geograph
for v in v1 v2 v2.1 v2.3; do
  "$GEOLABEL" predict --head "$F/best_geograph_model_$v.pth" --data "$F/expected/inputs.jsonl" -o "p_$v.csv" --threshold 0.2
done
"$GEOLABEL" dataset targets --data "$F/expected/inputs.jsonl" -o targets.csv
gzip -c "$F/expected/inputs.jsonl" > inputs.jsonl.gz
"$GEOLABEL" predict --head "$F/best_geograph_model_v2.pth" --data inputs.jsonl.gz -o p_gz.csv
"$PY" - "$F" <<'PYEOF'
import csv, json, struct, sys, numpy as np, torch
F = sys.argv[1]
classes = ["Aerial", "Close Look", "Cross Far", "Extra", "Geograph", "Inside", "From Drone"]
ids = [str(json.loads(l)["gridimage_id"]) for l in open(F + "/expected/inputs.jsonl")]
def read(path, labels):
    rows = list(csv.reader(open(path, newline="")))
    assert rows[0] == ["gridimage_id"] + classes + (["labels"] if labels else []), rows[0]
    assert [r[0] for r in rows[1:]] == ids
    return rows[1:], np.array([[float(x) for x in r[1:8]] for r in rows[1:]])
for v in ["v1", "v2", "v2.1", "v2.3"]:
    rows, p = read("p_%s.csv" % v, True)
    exp = np.load(F + "/expected/best_geograph_model_%s.probs.npy" % v)
    d = np.abs(p - exp).max()
    assert d <= 1e-4, (v, d)
    for r, pr in zip(rows, exp):
        want = [c for c, x in zip(classes, pr) if x > 0.2]
        assert r[8] == (",".join(want) if want else "None"), (r[8], want)
_, pgz = read("p_gz.csv", False)
assert np.abs(pgz - np.load(F + "/expected/best_geograph_model_v2.probs.npy")).max() <= 1e-4
rows = list(csv.reader(open("targets.csv", newline="")))
assert rows[0] == ["gridimage_id"] + classes
t = np.array([[float(x) for x in r[1:]] for r in rows[1:]])
assert (t == np.load(F + "/expected/targets.npy")).all()
# an independent safetensors writer, with our metadata layout
ck = torch.load(F + "/best_geograph_model_v2.1.pth", map_location="cpu")
sd = ck["model_state_dict"]
meta = {"classes": json.dumps(ck["classes"]), "dist_map": json.dumps(ck["dist_map"]), "clip_dim": "512",
        "dist_embed_dim": "16", "hidden": "256", "n_dist": "24", "dropout": "0.2"}
hdr, blobs, off = {"__metadata__": meta}, [], 0
for k in ["fc.3.bias", "dist_emb.weight", "fc.0.weight", "fc.0.bias", "fc.3.weight"]:
    b = sd[k].numpy().astype("<f4").tobytes()
    hdr[k] = {"dtype": "F32", "shape": list(sd[k].shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
h = json.dumps(hdr).encode()
open("py.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
PYEOF
"$GEOLABEL" predict --head py.safetensors --data "$F/expected/inputs.jsonl" -o p_st.csv
"$PY" - "$F" <<'PYEOF'
import csv, sys, numpy as np
F = sys.argv[1]
rows = list(csv.reader(open("p_st.csv", newline="")))
p = np.array([[float(x) for x in r[1:8]] for r in rows[1:]])
assert np.abs(p - np.load(F + "/expected/best_geograph_model_v2.1.probs.npy")).max() <= 1e-4
PYEOF
echo ok
