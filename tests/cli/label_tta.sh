#!/usr/bin/env bash
# Test-time augmentation changes the averaged probabilities (mechanics: the fixture model's weights
# are random, so only that something was averaged can be asserted); tiles stay the same; a prompt
# ensemble file is accepted and one without {} is refused naming the file.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
IMG=$GEOLABEL_SHARED/data/imagery/colorado_aerial.tif
printf 'road\nhouses\ntrees\nwater\n' > classes.txt
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 "$IMG" -o plain.csv
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 --tta x,y,xy,rot90,rot270 \
    "$IMG" -o tta.csv
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 --tta rot90 --batch 1 \
    "$IMG" -o rot.csv
printf 'a satellite photo of {}.\naerial view of {}\n' > templates.txt
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 --templates templates.txt \
    "$IMG" -o ens.csv
printf 'no placeholder\n' > bad.txt
if "$GEOLABEL" label --model "$M" --classes classes.txt --templates bad.txt "$IMG" -o x.csv \
    2> bad.err; then exit 1; fi
grep -q "bad.txt" bad.err
if "$GEOLABEL" label --model "$M" --classes classes.txt --tta x,spin "$IMG" -o x.csv; then exit 1; fi
$PY <<'PYEOF'
import csv
def rows(n):
    return list(csv.DictReader(open(n, newline="")))
plain, tta, rot, ens = rows("plain.csv"), rows("tta.csv"), rows("rot.csv"), rows("ens.csv")
key = lambda r: tuple(r[k] for k in ("row", "col", "left", "upper", "right", "lower"))
assert [key(r) for r in plain] == [key(r) for r in tta] == [key(r) for r in rot] == [key(r) for r in ens]
diff = sum(abs(float(a["score"]) - float(b["score"])) > 1e-6 for a, b in zip(plain, tta))
assert diff >= 3, "TTA changed %d of 4 scores" % diff
diff = sum(abs(float(a["score"]) - float(b["score"])) > 1e-6 for a, b in zip(plain, ens))
assert diff >= 3, "templates changed %d of 4 scores" % diff
print("ok")
PYEOF
