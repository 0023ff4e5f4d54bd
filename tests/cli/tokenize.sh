#!/usr/bin/env bash
# geolabel tokenize against openai/CLIP's ids in the fixtures: texts.json -> input_ids.npy, and
# all 200 tokenizer_cases.jsonl cases, through both input modes; plus the missing-vocab error.
set -euo pipefail
FX=$GEOLABEL_SHARED/fixtures
MODEL=$FX/clip-tiny-b32

# texts.json as JSON lines, compared with input_ids.npy by numpy
$PY -c 'import json,sys; [print(json.dumps(t)) for t in json.load(open(sys.argv[1]))]' "$FX/expected/texts.json" > texts.jsonl
"$GEOLABEL" tokenize --model "$MODEL" --jsonl < texts.jsonl > ids.txt
$PY - "$FX/expected/input_ids.npy" ids.txt <<'PY'
import json, sys, numpy as np
want = np.load(sys.argv[1])
got = np.array([json.loads(l) for l in open(sys.argv[2])], dtype=np.int32)
assert got.shape == want.shape, (got.shape, want.shape)
assert (got == want).all(), np.argwhere(got != want)[:5]
PY

# every case: --jsonl for texts without NUL (a JSON string with \u0000 would be cut short),
# plain lines for texts without a line break (those may hold NUL bytes)
$PY - "$FX/expected/tokenizer_cases.jsonl" <<'PY'
import json, sys
cases = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
with open("cases.jsonl", "w") as js, open("cases.txt", "wb") as tx, \
     open("want_js.txt", "w") as wj, open("want_tx.txt", "w") as wt:
    for c in cases:
        raw = bytes.fromhex(c["text_utf8_hex"])
        if b"\x00" not in raw:
            js.write(json.dumps(c["text"]) + "\n"); wj.write(json.dumps(c["input_ids"]) + "\n")
        if b"\n" not in raw and b"\r" not in raw:
            tx.write(raw + b"\n"); wt.write(json.dumps(c["input_ids"]) + "\n")
PY
"$GEOLABEL" tokenize --model "$MODEL" --jsonl < cases.jsonl > got_js.txt
"$GEOLABEL" tokenize --model "$MODEL" < cases.txt > got_tx.txt
$PY - <<'PY'
import json
for got, want in (("got_js.txt", "want_js.txt"), ("got_tx.txt", "want_tx.txt")):
    g = [json.loads(l) for l in open(got)]
    w = [json.loads(l) for l in open(want)]
    assert len(g) == len(w) and len(w) > 150, (got, len(g), len(w))
    bad = [i for i, (a, b) in enumerate(zip(g, w)) if a != b]
    assert not bad, (got, bad[:10])
    assert all(len(a) == 77 for a in g)
PY

# a folder without vocab.json: one line naming the file, non-zero exit
mkdir empty
if "$GEOLABEL" tokenize --model empty < texts.jsonl > /dev/null 2> err.txt; then exit 1; fi
[ "$(wc -l < err.txt)" -eq 1 ]
grep -q 'empty/vocab.json' err.txt
# an ORG/NAME never pulled: the error suggests pulling it
if "$GEOLABEL" tokenize --model nobody/nothing < texts.jsonl > /dev/null 2> err.txt; then exit 1; fi
grep -q "geolabel model pull nobody/nothing" err.txt
# a line that is not a JSON string in --jsonl mode
if echo '42' | "$GEOLABEL" tokenize --model "$MODEL" --jsonl > /dev/null 2> err.txt; then exit 1; fi
grep -q "stdin line 1: not a JSON string" err.txt
echo ok
