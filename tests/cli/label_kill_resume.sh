#!/usr/bin/env bash
# Runs you can kill: a `label` run over 20 scenes is killed with SIGKILL 6 times, each time once
# its journal shows one more finished scene (plus a random few milliseconds, to land mid-scene
# too), never at a fixed time, so a loaded machine cannot let a run finish before its kill; each
# kill is continued with --resume; the last --resume finishes, and the output
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
# wait_for N CMD...: polls CMD every 10 ms until it succeeds or N seconds pass (a slow machine
# only makes the wait longer, never the test wrong).
wait_for() {
  local n=$(( $1 * 100 )); shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 0.01; done
  return 1
}
units_done() { local n; n=$(grep -c '^D ' "$1" 2> /dev/null) || true; echo "${n:-0}"; }
at_least() { [ "$(units_done "$1")" -ge "$2" ]; }
run scenes -o whole.csv -q
[ ! -e whole.csv.journal ] && [ -s whole.csv.manifest.json ]

# Six kills, each once one more scene is finished (then 0-30 ms later): at most a scene or two
# per run, well under the 20, so the last --resume has work kept and work left.
for k in 1 2 3 4 5 6; do
  before=$(units_done killed.csv.journal)
  bg --resume scenes -o killed.csv -q 2>> kill.err
  wait_for 120 at_least killed.csv.journal $((before + 1)) ||
    { echo "run $k finished no scene in 120 s"; kill -9 "$pid"; exit 1; }
  sleep "$($PY -c "import random; print(round(random.uniform(0, 0.03), 3))")"
  kill -9 "$pid"
  wait "$pid" 2> /dev/null || true
  [ ! -e killed.csv ] || { echo "run $k finished before its kill"; exit 1; }
done
[ "$(units_done killed.csv.journal)" -lt 20 ]
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
wait_for 120 at_least t2.csv.journal 1 || true
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
wait_for 120 test -s busy.csv.journal || true
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
wait_for 120 at_least g.gpkg.journal 1 || true
kill -9 "$pid" 2> /dev/null || true; wait "$pid" 2> /dev/null || true
run --resume scenes/a0.tif scenes/b0.tif scenes/a1.tif -o g.gpkg 2> g.err
grep -q "already complete" g.err
ogrinfo -ro -so g.gpkg labels | grep -q "Feature Count: 48"
echo ok
