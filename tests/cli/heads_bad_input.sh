#!/usr/bin/env bash
# Bad input to predict/eval/train/dataset: each fails (or skips rows) with a one-line message naming
# the file (and the line for data rows), never a crash: truncated and zip-corrupt checkpoints, a
# pickle calling os.system, a state dict of the wrong shape, malformed JSON, bad base64, wrong
# embedding lengths, NaN, and empty splits.
set -uo pipefail
F=$GEOLABEL_SHARED/fixtures/geograph
CK=$F/best_geograph_model_v2.pth
fail() { echo "FAIL: $*"; exit 1; }
# expect_fail NEEDLE CMD...: non-zero exit (not a signal) and NEEDLE in stderr
expect_fail() {
  local needle=$1; shift
  "$@" >out.txt 2>err.txt; local rc=$?
  [ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "rc $rc for $*"
  grep -qF -- "$needle" err.txt || { cat err.txt; fail "no '$needle' for $*"; }
  [ "$(wc -l < err.txt)" -le 3 ] || { cat err.txt; fail "long error for $*"; }
}
"$PY" - "$CK" <<'PYEOF' || fail "python setup"
import sys, os, pickle, zipfile, collections, torch
ck = sys.argv[1]
raw = open(ck, "rb").read()
open("trunc.pth", "wb").write(raw[: len(raw) * 2 // 3])
bad = bytearray(raw); i = raw.rfind(b"PK\x05\x06"); bad[i + 16:i + 20] = b"\xff\xff\xff\x7f"
open("cdir.pth", "wb").write(bytes(bad))
class Evil:
    def __reduce__(self): return (os.system, ("touch pwned",))
with zipfile.ZipFile("evil.pth", "w") as z:
    z.writestr("evil/data.pkl", pickle.dumps({"model_state_dict": Evil()}, protocol=2))
d = torch.load(ck, map_location="cpu")
d["model_state_dict"]["fc.3.weight"] = torch.zeros(7, 200)
torch.save(d, "shape.pth")
PYEOF
expect_fail "trunc.pth: " "$GEOLABEL" predict --head trunc.pth --data "$F/expected/inputs.jsonl" -o p.csv
expect_fail "cdir.pth: zip central directory" "$GEOLABEL" predict --head cdir.pth --data "$F/expected/inputs.jsonl" -o p.csv
expect_fail "evil.pth: data.pkl byte" "$GEOLABEL" eval --head evil.pth --data "$F/expected/inputs.jsonl"
grep -qF "pickle global 'posix.system' is not allowed" err.txt || fail "global not named"
[ ! -e pwned ] || fail "the pickle ran"
expect_fail "shape.pth: tensor 'fc.3.weight' has shape [7,200], expected [7,256]" \
  "$GEOLABEL" predict --head shape.pth --data "$F/expected/inputs.jsonl" -o p.csv
[ ! -e p.csv ] || fail "output left behind"
# data rows: lines 2..5 are bad; the rest are fine
"$PY" - "$F/expected/inputs.jsonl" <<'PYEOF' || fail "python rows"
import sys, json, base64, struct
rows = [json.loads(l) for l in open(sys.argv[1])][:8]
out = [json.dumps(rows[0]), '{"gridimage_id": 2, "embeddings": "AAAA",', ]
r = dict(rows[2]); r["embeddings"] = "!!" + r["embeddings"][2:]; out.append(json.dumps(r))
r = dict(rows[3]); r["embeddings"] = base64.b64encode(b"\0" * 2040).decode(); out.append(json.dumps(r))
r = dict(rows[4]); r["embeddings"] = base64.b64encode(struct.pack("<f", float("nan")) * 512).decode(); out.append(json.dumps(r))
out += [json.dumps(x) for x in rows[5:8]]
open("rows.jsonl", "w").write("\n".join(out) + "\n")
PYEOF
"$GEOLABEL" predict --head "$CK" --data rows.jsonl -o p.csv 2>err.txt || fail "predict on bad rows"
grep -qF "rows.jsonl:2: malformed JSON" err.txt || fail "line 2"
grep -qF "rows.jsonl:3: bad base64" err.txt || fail "line 3"
grep -qF "rows.jsonl:4: embedding has 2040 bytes, expected 2048" err.txt || fail "line 4"
grep -qF "rows.jsonl:5: embedding holds NaN or Inf" err.txt || fail "line 5"
grep -qF "4 bad rows skipped" err.txt || fail "summary"
[ "$(wc -l < p.csv)" -eq 5 ] || fail "rows written: $(wc -l < p.csv)"
"$GEOLABEL" predict --head "$CK" --data rows.jsonl -o k.csv --keep-bad-rows 2>err.txt || fail "keep"
[ "$(wc -l < k.csv)" -eq 8 ] || fail "kept rows: $(wc -l < k.csv)"
# empty splits
grep -v '"split": "val"' "$F/expected/inputs.jsonl" > noval.jsonl
expect_fail "noval.jsonl: the 'val' split is empty" "$GEOLABEL" train --data noval.jsonl -o h.safetensors --epochs 1
grep -v '"split": "tes"' "$F/expected/inputs.jsonl" > notes.jsonl
expect_fail "notes.jsonl: the 'tes' split is empty" "$GEOLABEL" eval --head "$CK" --data notes.jsonl
expect_fail "missing.jsonl: cannot open" "$GEOLABEL" dataset stats --data missing.jsonl
# a truncated gzip is a read error naming the file and line
gzip -c "$F/expected/inputs.jsonl" | head -c 30000 > cut.jsonl.gz
expect_fail "cut.jsonl.gz:" "$GEOLABEL" dataset targets --data cut.jsonl.gz -o t.csv
echo ok
