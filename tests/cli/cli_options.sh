#!/usr/bin/env bash
# One option parser for every command: GVL's spellings as aliases, exact names only (no prefix
# abbreviations), -v/-q after the command, --version, the same --template in classify, cluster
# and label, classify's refusals (a hierarchy, a non-CSV output, a full stdout), and output and
# cache folders checked before any work.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'sea\ncity\nfields\n' > classes.txt
want=$(sed -n 's/^#define GL_VERSION "\(.*\)"$/\1/p' "$GEOLABEL_ROOT/include/geolabel.h")
[ "$("$GEOLABEL" --version)" = "geolabel $want" ]
[ "$("$GEOLABEL" label --version)" = "geolabel $want" ]
expect_usage() { # expect_usage PATTERN CMD...: exit 2 and PATTERN on stderr
    local pat=$1 rc=0; shift
    "$@" > /dev/null 2> err.txt || rc=$?
    [ "$rc" -eq 2 ] || { echo "exit $rc, want 2: $*"; cat err.txt; exit 1; }
    grep -q -- "$pat" err.txt || { echo "no '$pat' in:"; cat err.txt; exit 1; }
}
# Our names and GVL's give the same rows; -v and -q work after the command.
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x3 --tta x "$D/world.rgb.tif" \
    -o ours.csv -q 2> quiet.err
[ ! -s quiet.err ]
"$GEOLABEL" label -v --model "$M" --classes_file classes.txt --split_height_by 2 \
    --split_width_by 3 --test_time_augmentation x --input_dir "$D/world.rgb.tif" \
    --output_file gvl.csv
# No abbreviations: --prompt-st is not --prompt-style, --templ is not --template(s).
expect_usage "unknown option '--prompt-st'" "$GEOLABEL" label --model "$M" --classes classes.txt \
    --prompt-st gvl "$D/world.rgb.tif" -o p.csv
expect_usage "unknown option '--templ'" "$GEOLABEL" classify --model "$M" --classes classes.txt \
    --templ "a {}" "$D/airport.jpg"
expect_usage "needs a value" "$GEOLABEL" label --model "$M" --classes classes.txt -o
# The same --template everywhere: label's one template equals a one-line ensemble file.
echo 'an aerial photo of {}.' > one.txt
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 --template 'an aerial photo of {}.' \
    "$D/world.rgb.tif" -o t1.csv -q
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 --templates one.txt \
    "$D/world.rgb.tif" -o t2.csv -q
"$GEOLABEL" classify --model "$M" --classes classes.txt --template 'an aerial photo of {}.' \
    "$D/airport.jpg" -o c.csv
"$GEOLABEL" cluster --model "$M" --classes classes.txt --num_clusters 2 \
    --template 'an aerial photo of {}.' -o meta.yaml > /dev/null
# classify: a hierarchy and non-CSV outputs are refused before the model is even looked at.
printf 'Water:\n  - sea\n' > h.yaml
expect_usage "hierarchy" "$GEOLABEL" classify --model no-such-model --classes h.yaml "$D/airport.jpg"
expect_usage "CSV only" "$GEOLABEL" classify --model no-such-model --classes classes.txt \
    -o out.geojson "$D/airport.jpg"
[ ! -e out.geojson ]
rc=0; "$GEOLABEL" classify --model "$M" --classes classes.txt "$D/airport.jpg" > /dev/full \
    2> full.err || rc=$?
[ "$rc" -ne 0 ] && grep -q "stdout" full.err
# Folders checked first: a missing output folder or cache folder fails before the model loads.
rc=0; "$GEOLABEL" label --model no-such-model --classes classes.txt "$D/world.rgb.tif" \
    -o missing/out.csv 2> nodir.err || rc=$?
[ "$rc" -ne 0 ] && grep -q "missing" nodir.err && ! grep -q "no-such-model" nodir.err
rc=0; "$GEOLABEL" locate --model no-such-model --cache-dir nowhere "$D/airport.jpg" \
    2> cache.err || rc=$?
[ "$rc" -ne 0 ] && grep -q "cache-dir nowhere" cache.err && ! grep -q "no-such-model" cache.err
$PY <<'PYEOF'
import csv
rows = lambda p: list(csv.DictReader(open(p, newline="")))
ours, gvl = rows("ours.csv"), rows("gvl.csv")
assert len(ours) == 6 and ours == gvl, (len(ours), len(gvl))
t1, t2 = rows("t1.csv"), rows("t2.csv")
assert len(t1) == 4 and t1 == t2
c = rows("c.csv")
assert len(c) == 1 and c[0]["label"] in ("sea", "city", "fields")
print("ok")
PYEOF
