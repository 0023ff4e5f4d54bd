# slurm.sh: sourced by tests: starts a private single-node Slurm cluster (munged, slurmctld, slurmd
# from Debian) in a temporary directory on free loopback ports, and stops every daemon it started by
# PID. slurm_start returns non-zero with SLURM_SKIP set to the reason when it cannot start one.
# Needs: root (slurmd runs jobs as the submitting user and must be able to switch to it).

. "$(dirname "${BASH_SOURCE[0]}")/procs.sh"
SLURM_PIDS=""
SLURM_SKIP=""

slurm_stop() {
  local p
  # slurmd and slurmctld first, munged (their authentication) last.
  for p in $(echo $SLURM_PIDS | tr ' ' '\n' | tac); do stop_pid "$p"; done
  SLURM_PIDS=""
  [ -n "${SLURM_MUNGE_SOCKET:-}" ] && rm -f "$SLURM_MUNGE_SOCKET" "$SLURM_MUNGE_SOCKET.lock"
  return 0
}

# slurm_start DIR: the cluster's config, keys, state and logs all go under DIR. Exports SLURM_CONF
# so sbatch/squeue/sacct talk to this cluster only.
slurm_start() {
  local d=$1 b
  for b in munged slurmctld slurmd sbatch squeue scontrol; do
    command -v "$b" >/dev/null || { SLURM_SKIP="$b is not installed (scripts/install-deps.sh)"; return 1; }
  done
  [ "$(id -u)" -eq 0 ] || { SLURM_SKIP="not root: slurmd cannot run jobs as another user"; return 1; }
  mkdir -p "$d/state" "$d/spool" "$d/munge" /run/munge || { SLURM_SKIP="cannot create /run/munge"; return 1; }
  chmod 700 "$d/munge"
  # munged: a fresh key; its socket under /run/munge, named per run so parallel tests do not meet.
  dd if=/dev/urandom of="$d/munge/munge.key" bs=1 count=128 status=none
  chmod 400 "$d/munge/munge.key"
  SLURM_MUNGE_SOCKET=/run/munge/geolabel-test-$$.socket
  munged -F --force --socket="$SLURM_MUNGE_SOCKET" --key-file="$d/munge/munge.key" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" \
    --seed-file="$d/munge/munged.seed" >"$d/munge/stdout" 2>&1 &
  SLURM_PIDS="$SLURM_PIDS $!"
  wait_file "$SLURM_MUNGE_SOCKET" 10 || {
    SLURM_SKIP="munged did not start: $(tail -n 3 "$d/munge/munged.log" "$d/munge/stdout" 2>/dev/null | tr '\n' ' ')"
    slurm_stop; return 1; }
  local host cpus ctl_port d_port mem
  host=$(hostname -s); cpus=$(nproc)
  mem=$(awk '/^MemTotal/ { print int($2 / 1024) - 512 }' /proc/meminfo)
  ctl_port=$(free_port); d_port=$(free_port)
  SLURM_NODE=gltest$$
  cat > "$d/slurm.conf" <<CONF
ClusterName=geolabeltest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
AuthType=auth/munge
AuthInfo=socket=$SLURM_MUNGE_SOCKET
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmdTimeout=30
InactiveLimit=0
NodeName=$SLURM_NODE NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=geolabel Nodes=$SLURM_NODE Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$d/slurm.conf
  slurmctld -D -i -f "$SLURM_CONF" >"$d/slurmctld.out" 2>&1 &
  SLURM_PIDS="$SLURM_PIDS $!"
  slurmd -D -N "$SLURM_NODE" -f "$SLURM_CONF" >"$d/slurmd.out" 2>&1 &
  SLURM_PIDS="$SLURM_PIDS $!"
  # Up when the node reports idle.
  local i=0 state=""
  while [ "$i" -lt 300 ]; do
    state=$(sinfo -h -n "$SLURM_NODE" -o %T 2>/dev/null || true)
    case "$state" in idle*) return 0 ;; esac
    sleep 0.1; i=$((i + 1))
  done
  SLURM_SKIP="the Slurm node did not come up (state '$state'): $(tail -n 2 "$d/slurmctld.log" "$d/slurmd.log" 2>/dev/null | tr '\n' ' ')"
  slurm_stop
  return 1
}

# slurm_wait_jobs SECONDS JOBID...: 0 when every job left the queue in time.
slurm_wait_jobs() {
  local limit=$1 i=0; shift
  local ids; ids=$(IFS=,; echo "$*")
  while [ "$i" -lt $(( limit * 2 )) ]; do
    [ -z "$(squeue -h -j "$ids" 2>/dev/null)" ] && return 0
    sleep 0.5; i=$((i + 1))
  done
  return 1
}
