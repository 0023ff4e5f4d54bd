#!/bin/bash
# submit.sh: queues a sharded label run on Slurm: label-array.sbatch as an N-task array, then
# merge.sbatch held until every task succeeded (--dependency=afterok). Prints both job ids.
# Usage: GEOLABEL_MODEL=... GEOLABEL_CLASSES=... GEOLABEL_INPUTS=list.txt GEOLABEL_OUT=shards/ \
#        GEOLABEL_MERGED=labels.csv scripts/slurm/submit.sh N_SHARDS CPUS_PER_TASK [sbatch options]
set -euo pipefail
n=${1:?number of shards}; cpus=${2:?cpus per task}; shift 2
here=$(cd "$(dirname "$0")" && pwd)
array=$(sbatch --parsable --array=0-$((n - 1)) --cpus-per-task="$cpus" "$@" \
  "$here/label-array.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=yes "$@" \
  "$here/merge.sbatch")
echo "$array ${merge%%;*}"
