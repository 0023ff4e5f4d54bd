#!/usr/bin/env bash
# A real Slurm cluster, started here (munged, slurmctld, slurmd from Debian; one node with this
# machine's CPUs; config, state and spool in this test's folder; daemons stopped by PID): 48 scenes
# cut with gdal_translate are labelled by scripts/slurm/submit.sh, a 4-task array of
# label-array.sbatch and a merge.sbatch job held by --dependency=afterok. The merged CSV equals a
# single-process run row for row (Python csv; scores to float rounding); each task ran its own shard with --threads from
# --cpus-per-task. Without the daemons the test reports SKIP with the reason.
set -eu
. "$GEOLABEL_ROOT/tests/lib/slurm.sh"
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
D=$GEOLABEL_SHARED/data/imagery
printf 'sea\ncity\nfields\n' > classes.txt
mkdir in
k=0
for y in 0 140 280 420 560; do for x in 0 80 160 240 320 400 480 560 640 700; do
  [ $k -lt 48 ] && gdal_translate -q -srcwin $x $y 90 150 "$D/RGB.byte.tif" in/scene_$k.tif
  k=$((k + 1))
done; done
ls in/*.tif | sort -R --random-source=classes.txt > inputs.txt # not in sorted order
[ "$(wc -l < inputs.txt)" -eq 48 ]
"$GEOLABEL" -q label --model "$M" --classes classes.txt --split 2x2 --inputs-from inputs.txt \
  -o single.csv

trap slurm_stop EXIT
if ! slurm_start "$PWD/cluster"; then echo "SKIP: $SLURM_SKIP"; exit 77; fi
export GEOLABEL GEOLABEL_MODEL=$M GEOLABEL_CLASSES=$PWD/classes.txt GEOLABEL_INPUTS=$PWD/inputs.txt
export GEOLABEL_OUT=$PWD/shards GEOLABEL_MERGED=$PWD/merged.csv GEOLABEL_ARGS="--split 2x2"
read -r array merge < <("$GEOLABEL_ROOT/scripts/slurm/submit.sh" 4 1 --chdir="$PWD")
echo "array job $array, merge job $merge"
if ! slurm_wait_jobs 300 "$array" "$merge"; then
  squeue; tail -n 20 cluster/slurmctld.log; echo "jobs still queued after 300 s"; exit 1
fi
cat geolabel-label-*.log geolabel-merge-*.log
# Every array task completed before the merge job started (what afterok promises).
scontrol -o show job "$array" > array.jobs
scontrol -o show job "$merge" > merge.job
"$PY" - <<'PYEOF'
def jobs(p):
    return [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in open(p)]
tasks, (merge,) = jobs("array.jobs"), jobs("merge.job")
assert len(tasks) == 4 and all(t["JobState"] == "COMPLETED" for t in tasks), tasks
assert merge["JobState"] == "COMPLETED", merge["JobState"]
assert all(t["EndTime"] <= merge["StartTime"] for t in tasks), "merge started before a task ended"
assert sorted(int(t["ArrayTaskId"]) for t in tasks) == [0, 1, 2, 3]
PYEOF
for t in 0 1 2 3; do
  grep -q -- "--threads 1" geolabel-label-${array}_$t.log
  grep -q "\"index\":[[:space:]]*$t" shards/shard-$t.csv.manifest.json
done
"$PY" - <<'PYEOF'
import csv, json
single = list(csv.reader(open("single.csv", newline="")))
merged = list(csv.reader(open("merged.csv", newline="")))
assert len(single) == 1 + 48 * 4, len(single)
assert len(merged) == len(single) and merged[0] == single[0], "header or row count"
score, top3 = single[0].index("score"), single[0].index("top3")
def probs(s):  # "label:p;label:p;label:p"
    return [(x.rsplit(":", 1)[0], float(x.rsplit(":", 1)[1])) for x in s.split(";")] if s else []
for a, b in zip(single[1:], merged[1:]):
    # The tasks ran with 1 thread, the single run with all: probabilities (score, top3) may differ
    # in the last digit.
    exact = [k for k in range(len(a)) if k not in (score, top3)]
    assert [a[k] for k in exact] == [b[k] for k in exact], f"{a} != {b}"
    assert (a[score] == b[score] == "") or abs(float(a[score]) - float(b[score])) < 1e-5, (a, b)
    pa, pb = probs(a[top3]), probs(b[top3])
    assert len(pa) == len(pb) and all(abs(x[1] - y[1]) < 1e-5 for x, y in zip(pa, pb)), (a, b)
sizes = [len(json.load(open(f"shards/shard-{t}.csv.manifest.json"))["inputs"]["list"]) for t in range(4)]
assert sum(sizes) == 48 and all(sizes), sizes
print("slurm: 4 shards of", sizes, "inputs merged equal the single run,", len(merged) - 1, "rows")
PYEOF
