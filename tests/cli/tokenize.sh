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

# every case through --jsonl, and as plain lines those without a line break (NUL bytes included)
$PY - "$FX/expected/tokenizer_cases.jsonl" <<'PY'
import json, sys
cases = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
with open("cases.jsonl", "w") as js, open("cases.txt", "wb") as tx, \
     open("want_js.txt", "w") as wj, open("want_tx.txt", "w") as wt:
    for c in cases:
        raw = bytes.fromhex(c["text_utf8_hex"])
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
    assert len(g) == len(w) and len(w) >= {"got_js.txt": 200, "got_tx.txt": 150}[got], (got, len(g))
    bad = [i for i, (a, b) in enumerate(zip(g, w)) if a != b]
    assert not bad, (got, bad[:10])
    assert all(len(a) == 77 for a in g)
PY

# random texts against an independent pipeline: Python's unicodedata (NFC, categories for the
# regex's \p{L}/\p{N}), html.unescape, str.lower (İ, final sigma) and the reference BPE loop.
# Characters ftfy would change (ligatures, curly quotes, controls, mojibake) are left out.
cat > fuzz.py <<'PY'
import json, random, re, unicodedata, html, sys
V = json.load(open(sys.argv[2] + '/vocab.json', encoding='utf-8'))
merges = open(sys.argv[2] + '/merges.txt', encoding='utf-8').read().split('\n')[1:]
merges = [tuple(m.split()) for m in merges if m]
ranks = {m: i for i, m in enumerate(merges)}
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
cs = bs[:]; n = 0
for b in range(256):
    if b not in bs: bs.append(b); cs.append(256 + n); n += 1
B2U = dict(zip(bs, map(chr, cs)))
def bpe(tok):
    word = tuple(tok[:-1]) + (tok[-1] + '</w>',)
    while len(word) > 1:
        pairs = [(ranks.get((word[i], word[i+1]), 1e18), i) for i in range(len(word)-1)]
        r, _ = min(pairs)
        if r == 1e18: break
        a, b = merges[int(r)]
        out = []; i = 0
        while i < len(word):
            if i < len(word)-1 and word[i] == a and word[i+1] == b: out.append(a+b); i += 2
            else: out.append(word[i]); i += 1
        word = tuple(out)
    return word
WS = set('\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000') | {chr(c) for c in range(0x2000, 0x200b)}
def cat(c): return unicodedata.category(c)
def isL(c): return cat(c).startswith('L')
def isN(c): return cat(c).startswith('N')
def pieces(t):
    i = 0; out = []
    while i < len(t):
        c = t[i]
        if c in WS: i += 1; continue
        for lit in ('<|startoftext|>', '<|endoftext|>', "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"):
            if t.startswith(lit, i): out.append(lit); i += len(lit); break
        else:
            j = i
            if isL(c):
                while j < len(t) and isL(t[j]): j += 1
            elif isN(c): j = i + 1
            else:
                while j < len(t) and not (t[j] in WS or isL(t[j]) or isN(t[j])): j += 1
            out.append(t[i:j]); i = j
    return out
def encode(text):
    t = unicodedata.normalize('NFC', text)
    t = html.unescape(html.unescape(t)).strip()
    t = re.sub('[' + ''.join(sorted(WS)) + ']+', ' ', t).strip().lower()
    ids = []
    for p in pieces(t):
        if p == '<|startoftext|>': ids.append(49406); continue
        if p == '<|endoftext|>': ids.append(49407); continue
        ids += [V[x] for x in bpe(''.join(B2U[b] for b in p.encode()))]
    ids = [49406] + ids + [49407]
    if len(ids) > 77: ids = ids[:77]; ids[-1] = 49407
    return ids + [0] * (77 - len(ids))
pool = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"-_()[]{}/\\|@#$%^*+=~`") + \
  list("ΣΑΒΓσςαβγΊΌάέ İIıiÀÉÎÕÜàéîõüßẞŁłĐđЖжЯяЇїשלוםمرحبا中文日本語한국어ไทยनमस्ते😀🙂👍🏽①²½ⅫſK") + \
  ['\u00a0', '\u3000', '\u2003', '\t', '\n', '&amp;', '&quot;', '&eacute;', '&#39;', '&#x41;', "'s", "'LL", '<|endoftext|>', 'Σ ', 'ΣΑΣ']
random.seed(int(sys.argv[1]))
texts = [''.join(random.choice(pool) for _ in range(random.randint(0, 60))) for _ in range(1500)]
with open('in.jsonl', 'w') as f:
    for t in texts: f.write(json.dumps(t) + '\n')
with open('want.txt', 'w') as f:
    for t in texts: f.write(json.dumps(encode(t)) + '\n')
PY
$PY fuzz.py 20240601 "$MODEL"
"$GEOLABEL" tokenize --model "$MODEL" --jsonl < in.jsonl > got.txt
$PY - <<'PY'
import json
g = [json.loads(l) for l in open("got.txt")]
w = [json.loads(l) for l in open("want.txt")]
assert len(g) == len(w) == 1500
bad = [i for i in range(len(w)) if g[i] != w[i]]
assert not bad, bad[:10]
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
