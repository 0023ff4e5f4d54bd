#!/usr/bin/env bash
# train on synthetic rows whose tags come from a known random linear teacher (made here with numpy):
# the head recovers it (tes micro-F1 >= 0.95 by eval --json), the .safetensors file read by Python
# (struct + json + numpy) predicts what `geolabel predict` prints, the same seed gives the same
# file, a resumed run equals a straight one, and the architecture flags shape the weights.
set -euo pipefail
"$PY" - <<'PYEOF'
import numpy as np, json, base64
rng = np.random.default_rng(1)
classes = ["Aerial", "Close Look", "Cross Far", "Extra", "Geograph", "Inside", "From Drone"]
W = rng.normal(size=(7, 32)).astype(np.float32); b = rng.normal(size=7).astype(np.float32) * 0.3
dists = ["16", "1024", "Unknown", "", "0", " 64 "]
with open("syn.jsonl", "w") as f:
    for i in range(6000):
        x = rng.normal(size=32).astype(np.float32)
        z = W @ x + b
        tags = [classes[k] for k in range(7) if z[k] > 0 and k != 2]
        split = ["tra"] * 8 + ["val", "tes"]
        f.write(json.dumps({"gridimage_id": 500000 + i, "types": ",".join(tags), "distance": dists[i % 6],
                            "embeddings": base64.b64encode(x.tobytes()).decode(), "split": split[i % 10],
                            "weight": [1.0, 0.5, 0.2][i % 3]}) + "\n")
PYEOF
T="--data syn.jsonl --clip-dim 32 --batch 128 --threads 1 --seed 3 --patience 100"
"$GEOLABEL" train $T --epochs 12 -o a.safetensors 2> a.log
grep -q "epoch  12" a.log
"$GEOLABEL" train $T --epochs 12 -o b.safetensors 2> /dev/null
cmp a.safetensors b.safetensors
"$GEOLABEL" train ${T/--threads 1/--threads 2} --epochs 3 -o t2a.safetensors 2> /dev/null
"$GEOLABEL" train ${T/--threads 1/--threads 2} --epochs 3 -o t2b.safetensors 2> /dev/null
cmp t2a.safetensors t2b.safetensors
"$GEOLABEL" train $T --epochs 5 -o r.safetensors 2> /dev/null
"$GEOLABEL" train $T --epochs 12 -o r.safetensors --resume 2> r.log
head -n 1 r.log | grep -q "^epoch   6 "
cmp a.safetensors r.safetensors
cmp a.safetensors.resume r.safetensors.resume
"$GEOLABEL" eval --head a.safetensors --data syn.jsonl --json > eval.json
"$GEOLABEL" train $T --epochs 12 --half-rows -o half.safetensors 2> /dev/null
"$GEOLABEL" eval --head half.safetensors --data syn.jsonl --json > eval_half.json
"$GEOLABEL" predict --head a.safetensors --data syn.jsonl -o p.csv
"$GEOLABEL" train $T --epochs 2 --hidden 24 --dist-dim 5 --dropout 0.1 --optimizer adamw --weight-decay 0.05 \
  --lr 0.002 --schedule cosine -o small.safetensors 2> /dev/null
"$PY" - <<'PYEOF'
import json, struct, csv, base64, numpy as np
e = json.load(open("eval.json"))
assert e["micro_f1"] >= 0.95, e["micro_f1"]
assert json.load(open("eval_half.json"))["micro_f1"] >= 0.95
def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n]); data = raw[8 + n:]
    t = {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], "<f4").reshape(v["shape"])
         for k, v in hdr.items() if k != "__metadata__"}
    return hdr["__metadata__"], t
meta, t = load("a.safetensors")
assert json.loads(meta["classes"])[6] == "From Drone" and json.loads(meta["dist_map"])["1048576"] == 21
assert (meta["clip_dim"], meta["hidden"], meta["dist_embed_dim"]) == ("32", "256", "16")
dm = json.loads(meta["dist_map"])
rows = [json.loads(l) for l in open("syn.jsonl")]
X = np.stack([np.frombuffer(base64.b64decode(r["embeddings"]), "<f4") for r in rows]).astype(np.float64)
D = np.array([dm.get(str(r["distance"]).strip(), 22) for r in rows])
h = np.maximum(np.concatenate([X, t["dist_emb.weight"][D]], 1) @ t["fc.0.weight"].T + t["fc.0.bias"], 0)
p = 1 / (1 + np.exp(-(h @ t["fc.3.weight"].T + t["fc.3.bias"])))
got = list(csv.reader(open("p.csv", newline="")))
assert [g[0] for g in got[1:]] == [str(r["gridimage_id"]) for r in rows]
assert np.abs(np.array([[float(x) for x in g[1:]] for g in got[1:]]) - p).max() < 1e-5
meta, t = load("small.safetensors")
assert t["fc.0.weight"].shape == (24, 37) and t["dist_emb.weight"].shape == (24, 5) and meta["dropout"].startswith("0.1")
PYEOF
echo ok
