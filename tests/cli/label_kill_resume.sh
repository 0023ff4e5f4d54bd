#!/usr/bin/env bash
# Runs you can kill: a `label` run over 20 scenes is killed with SIGKILL at random moments, at
# least 5 times, each time continued with --resume; the last --resume finishes, and the output
# equals an uninterrupted run's row for row (Python's csv). Then the journal's edge cases: a torn
# last record is dropped, a corrupt record before the end is refused, a run with other classes
# or another model is refused unless --force, and GPKG output resumes through the same journal.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'road\nhouses\ntrees\nwater\n' > classes.txt
mkdir scenes
for i in $(seq 0 9); do
  cp "$D/colorado_aerial.tif" "scenes/a$i.tif"
  cp "$D/world.rgb.tif" "scenes/b$i.tif"
done
ARGS=(label --model "$M" --classes classes.txt --split 4x4 --tta x,y --batch 1 --threads 1)
run() { "$GEOLABEL" "${ARGS[@]}" "$@"; }
# In the background without a subshell in between, so $! is geolabel itself, the process killed.
bg() { "$GEOLABEL" "${ARGS[@]}" "$@" & pid=$!; }
now() { date +%s.%N; }
t0=$(now)
run scenes/a0.tif -o one.csv -q
t1=$(now)
run scenes -o whole.csv -q
t2=$(now)
[ ! -e whole.csv.journal ] && [ -s whole.csv.manifest.json ]
# Start-up time and time per scene, from a 1-scene and the 20-scene run.
read -r START SCENE < <($PY -c "
one, whole = $t1 - $t0, $t2 - $t1
scene = max((whole - one) / 19, 0.01)
print(max(one - scene, 0), scene)")

# Six kills, each at a random moment between half a scene and 2.5 scenes after start-up:
# together well under the 20 scenes, so the last --resume has work kept and work left.
for k in 1 2 3 4 5 6; do
  bg --resume scenes -o killed.csv -q 2>> kill.err
  sleep "$($PY -c "import random; print(round($START + random.uniform(0.5, 2.5) * $SCENE, 3))")"
  kill -9 "$pid"
  wait "$pid" 2> /dev/null || true
  [ ! -e killed.csv ] || { echo "run $k finished within its kill time"; exit 1; }
done
[ ! -e killed.csv ] # nothing published yet: the work so far lives in the journal
[ -s killed.csv.journal ]
run --resume scenes -o killed.csv 2> final.err
cat final.err
grep -Eq "already complete" final.err
done_before=$(sed -n 's/.* \([0-9]*\) already complete.*/\1/p' final.err)
[ "$done_before" -gt 0 ] || { echo "the kills lost every finished scene"; exit 1; }
[ ! -e killed.csv.journal ]

# A torn last record (a kill in the middle of a write) is dropped; the run resumes.
bg --resume scenes/a0.tif scenes/a1.tif scenes/a2.tif -o t2.csv -q
for _ in $(seq 200); do
  grep -qs '^D ' t2.csv.journal && break
  sleep 0.02
done
kill -9 "$pid"; wait "$pid" 2> /dev/null || true
grep -q '^D ' t2.csv.journal
printf 'R 0badc0de 1\t2\t3' >> t2.csv.journal # no newline: torn
cp t2.csv.journal corrupt.csv.journal
run --resume scenes/a0.tif scenes/a1.tif scenes/a2.tif -o t2.csv 2> t2.err
grep -q "already complete" t2.err
# The same torn line with whole records after it is corruption, not a kill: refused by name.
printf '\nD 00000000 \n' >> corrupt.csv.journal
rc=0; run --resume scenes/a0.tif -o corrupt.csv 2> corrupt.err || rc=$?
[ "$rc" -ne 0 ] && grep -q "corrupt.csv.journal:.*corrupt record" corrupt.err
# Two runs into one output at once: the second is refused while the first holds the journal.
bg scenes -o busy.csv -q
for _ in $(seq 200); do [ -s busy.csv.journal ] && break; sleep 0.02; done
rc=0; run scenes -o busy.csv -q 2> busy.err || rc=$?
kill -9 "$pid"; wait "$pid" 2> /dev/null || true
[ "$rc" -ne 0 ] && grep -q "another run" busy.err
$PY - <<'PYEOF'
import csv
whole = list(csv.reader(open("whole.csv", newline="")))
killed = list(csv.reader(open("killed.csv", newline="")))
assert len(whole) == 1 + 20 * 16, len(whole)
assert killed == whole, next(((i, a, b) for i, (a, b) in enumerate(zip(whole, killed)) if a != b), "lengths differ")
t2 = list(csv.DictReader(open("t2.csv", newline="")))
assert len(t2) == 3 * 16 and len({(r["input"], r["row"], r["col"]) for r in t2}) == 48, len(t2)
print("ok")
PYEOF

# Another class list or model: refused with the differing field named, both from a journal and
# from a finished output's manifest; --force goes on.
printf 'road\nhouses\ntrees\n' > other.txt
run scenes/a0.tif -o m.csv -q
cp m.csv m.before.csv
rc=0; "$GEOLABEL" label --model "$M" --classes other.txt --split 4x4 --tta x,y --resume \
    scenes/a0.tif scenes/a1.tif -o m.csv 2> m.err || rc=$?
[ "$rc" -eq 2 ] && grep -q "classes" m.err && grep -q -- "--force" m.err
cmp m.csv m.before.csv
rc=0; run --resume --split 2x2 scenes/a0.tif -o m.csv 2> m2.err || rc=$?
[ "$rc" -eq 2 ] && grep -q "tiling" m2.err
"$GEOLABEL" label --model "$M" --classes other.txt --split 4x4 --tta x,y --resume --force \
    scenes/a0.tif scenes/a1.tif -o m.csv -q
[ "$(grep -c 'a1.tif' m.csv)" -eq 16 ]
grep -q '"classes":"road;houses;trees"' m.csv.manifest.json

# GPKG: killed and resumed through the journal too; ogrinfo counts the features.
bg scenes/a0.tif scenes/b0.tif scenes/a1.tif -o g.gpkg -q
for _ in $(seq 200); do grep -qs '^D ' g.gpkg.journal && break; sleep 0.02; done
kill -9 "$pid" 2> /dev/null || true; wait "$pid" 2> /dev/null || true
run --resume scenes/a0.tif scenes/b0.tif scenes/a1.tif -o g.gpkg 2> g.err
grep -q "already complete" g.err
ogrinfo -ro -so g.gpkg labels | grep -q "Feature Count: 48"
echo ok
