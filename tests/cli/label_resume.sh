#!/usr/bin/env bash
# --resume: a run over two scenes, then a run over three with --resume keeps the first two scenes'
# rows byte for byte, without duplicates, and appends the third. An input whose rows are
# incomplete (a row deleted) is labelled again; a different tiling is not "complete"; rows of
# scenes not in the run are kept.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'road\nhouses\ntrees\n' > classes.txt
cp "$D/colorado_aerial.tif" a.tif
cp "$D/world.rgb.tif" b.tif
cp "$D/RGB.byte.tif" c.tif
run() { "$GEOLABEL" label --model "$M" --classes classes.txt --split 3x3 "$@"; }
run a.tif b.tif -o out.csv
cp out.csv first.csv
run --resume a.tif b.tif c.tif -o out.csv 2> resume.err
grep -q "1 labelled, 2 already complete" resume.err
# Drop b's last row: b is incomplete and must be redone, a kept.
grep -v '^b.tif,2,2,' out.csv > cut.csv
mv cut.csv out.csv
run --resume a.tif b.tif c.tif -o out.csv 2> again.err
grep -q "1 labelled, 2 already complete" again.err
run --resume --split 2x2 a.tif -o out2x2.csv
cp out.csv changed.csv
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 --resume a.tif -o changed.csv \
    2> changed.err
grep -q "1 labelled, 0 already complete" changed.err
# The same through OGR: a GPKG resumed keeps a's features and adds b's.
run a.tif -o r.gpkg
run --resume a.tif b.tif -o r.gpkg 2> gpkg.err
grep -q "1 labelled, 1 already complete" gpkg.err
ogrinfo -ro -so r.gpkg labels | grep -q "Feature Count: 18"
$PY <<'PYEOF'
import csv
first = open("first.csv", newline="").read().splitlines()
out = list(csv.reader(open("out.csv", newline="")))
lines = open("out.csv", newline="").read().splitlines()
assert lines[0] == first[0]
names = [r[0] for r in out[1:]]
assert names.count("a.tif") == 9 and names.count("b.tif") == 9 and names.count("c.tif") == 9, names
keys = [(r[0], r[1], r[2]) for r in out[1:]]
assert len(set(keys)) == len(keys), "duplicated rows"
# a.tif's rows are kept as they were.
assert [l for l in lines if l.startswith("a.tif,")] == [l for l in first if l.startswith("a.tif,")]
ch = [r["filename"] for r in csv.DictReader(open("changed.csv", newline=""))]
# A 2x2 run resumed into the 3x3 output: a's rows replaced, the other scenes' rows untouched.
assert (ch.count("a.tif"), ch.count("b.tif"), ch.count("c.tif")) == (4, 9, 9), ch
assert len(list(csv.reader(open("out2x2.csv")))) == 5
print("ok")
PYEOF
