#!/usr/bin/env bash
# predict --image/--meta runs CLIP then the head: with the tiny fixture CLIP (32-d) and a head
# trained here on 32-d rows, the probabilities equal predict --data on rows built from
# `geolabel embed` of the same images; --meta computes the distance from grid coordinates.
set -euo pipefail
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
I=$GEOLABEL_SHARED/fixtures/expected/images
"$PY" - <<'PYEOF'
import numpy as np, json, base64
rng = np.random.default_rng(2)
with open("syn.jsonl", "w") as f:
    for i in range(600):
        x = rng.normal(size=32).astype(np.float32)
        tags = ["Aerial"] if x[0] > 0 else ["Inside"]
        f.write(json.dumps({"gridimage_id": i, "types": ",".join(tags), "distance": "16",
                            "embeddings": base64.b64encode(x.tobytes()).decode(),
                            "split": ["tra", "tra", "val"][i % 3]}) + "\n")
PYEOF
"$GEOLABEL" train --data syn.jsonl --clip-dim 32 --epochs 3 --batch 64 -o head.safetensors 2> /dev/null
IMGS="$I/00_rocket.jpg $I/01_chelsea.png $I/03_camera_gray.png"
"$GEOLABEL" embed --model "$M" -o e.jsonl $IMGS
"$GEOLABEL" predict --head head.safetensors --model "$M" --image $IMGS --distance 16 -o img.csv --threshold 0.5
printf 'id,path,e1,n1,e2,n2\nrocket,%s,100,200,116,200\ncat,%s,0,0,5,5\n' "$I/00_rocket.jpg" "$I/01_chelsea.png" > meta.csv
"$GEOLABEL" predict --head head.safetensors --model "$M" --meta meta.csv -o meta_out.csv
"$PY" - <<'PYEOF'
import json
rows = [json.loads(l) for l in open("e.jsonl")]
with open("rows.jsonl", "w") as f:
    for i, r in enumerate(rows):
        f.write(json.dumps({"gridimage_id": r["id"], "distance": "16", "embeddings": r["embeddings"]}) + "\n")
    f.write(json.dumps({"gridimage_id": "cat_unknown", "distance": "Unknown", "embeddings": rows[1]["embeddings"]}) + "\n")
PYEOF
"$GEOLABEL" predict --head head.safetensors --data rows.jsonl -o data.csv
"$PY" - <<'PYEOF'
import csv
img = list(csv.reader(open("img.csv", newline="")))
dat = list(csv.reader(open("data.csv", newline="")))
meta = list(csv.reader(open("meta_out.csv", newline="")))
classes = ["Aerial", "Close Look", "Cross Far", "Extra", "Geograph", "Inside", "From Drone"]
assert img[0] == ["gridimage_id"] + classes + ["labels"] and dat[0] == ["gridimage_id"] + classes
import os  # embed may print the path normalised; compare file names
assert len(img) == 4 and [os.path.basename(r[0]) for r in img[1:]] == [os.path.basename(r[0]) for r in dat[1:4]]
for a, b in zip(img[1:], dat[1:4]):
    pa, pb = [float(x) for x in a[1:8]], [float(x) for x in b[1:8]]
    assert all(0 <= x <= 1 for x in pa) and max(abs(x - y) for x, y in zip(pa, pb)) < 1e-6, (pa, pb)
    want = [c for c, x in zip(classes, pa) if x > 0.5]
    assert a[8] == (",".join(want) or "None")
# meta: rocket is 16 m away (bucket "16"), the cat has n1 = 0 ("Unknown")
assert [r[0] for r in meta[1:]] == ["rocket", "cat"]
close = lambda a, b: max(abs(float(x) - float(y)) for x, y in zip(a[1:8], b[1:8])) < 1e-6
assert close(meta[1], dat[1]) and close(meta[2], dat[4])
PYEOF
echo ok
