#!/usr/bin/env bash
# dataset build embeds images with the engine into the data set's JSONL: rows match `geolabel
# embed` and the README's distance rule; a second run adds nothing (resume), new ids are appended,
# and a torn last line from a crash is cut before appending.
set -euo pipefail
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
I=$GEOLABEL_SHARED/fixtures/expected/images
cat > meta.csv <<CSV
id,path,e1,n1,e2,n2,types,split,weight
7001,$I/00_rocket.jpg,100,200,103,204,Aerial,tra,0.5
7002,$I/01_chelsea.png,100,0,103,204,"Inside,Extra",val,
photo-3,$I/03_camera_gray.png,5000,5000,5000,5000,,tes,1
CSV
"$GEOLABEL" dataset build --model "$M" --meta meta.csv -o new.jsonl 2> b1.log
grep -q "3 rows added, 0 already present" b1.log
"$GEOLABEL" dataset build --model "$M" --meta meta.csv -o new.jsonl 2> b2.log
grep -q "0 rows added, 3 already present" b2.log
echo "7004,$I/04_tall_rgba_97x263.png,0,1,0,1,Geograph,tra,1" >> meta.csv
printf '{"gridimage_id": 9, "types": "tor' >> new.jsonl   # a torn line, as a crash leaves it
"$GEOLABEL" dataset build --model "$M" --meta meta.csv -o new.jsonl 2> b3.log
grep -q "1 rows added, 3 already present" b3.log
"$GEOLABEL" embed --model "$M" -o e.jsonl "$I/00_rocket.jpg" "$I/01_chelsea.png" "$I/03_camera_gray.png" "$I/04_tall_rgba_97x263.png"
"$GEOLABEL" dataset stats --data new.jsonl --clip-dim 32 --json > stats.json
"$PY" - <<'PYEOF'
import json, base64, math, numpy as np
rows = [json.loads(l) for l in open("new.jsonl")]
emb = [json.loads(l) for l in open("e.jsonl")]
assert [r["gridimage_id"] for r in rows] == [7001, 7002, "photo-3", 7004], rows
def dist(e1, n1, e2, n2):  # the README's rule
    if not (n1 > 0 and e2 > 0): return "Unknown"
    d = math.sqrt((e1 - e2) ** 2 + (n1 - n2) ** 2)
    return "0" if d == 0 else str(int(2 ** math.floor(math.log2(d))))
assert [r["distance"] for r in rows] == [dist(100, 200, 103, 204), dist(100, 0, 103, 204), dist(5000, 5000, 5000, 5000), dist(0, 1, 0, 1)]
assert [r["types"] for r in rows] == ["Aerial", "Inside,Extra", "", "Geograph"]
assert [r["split"] for r in rows] == ["tra", "val", "tes", "tra"] and [r["weight"] for r in rows] == [0.5, 1, 1, 1]
for r, e in zip(rows, emb):
    a = np.frombuffer(base64.b64decode(r["embeddings"]), "<f4")
    b = np.frombuffer(base64.b64decode(e["embeddings"]), "<f4")
    assert a.shape == (32,) and (a == b).all()
s = json.load(open("stats.json"))
assert s["rows"] == 4 and s["bad_rows"] == 0 and s["splits"]["tra"] == 2 and s["targets"]["Inside"] == 1
PYEOF
echo ok
