#!/usr/bin/env bash
# Runs libFuzzer harnesses one after another (never two at once: the machine is shared), each for
# SECONDS under ASan+UBSan with LeakSanitizer on, starting from its committed seeds in
# fuzz/corpus/<harness>/ (copied: the seeds are not modified). Prints one line per harness:
# "harness seconds execs exec/s corpus result" (corpus: inputs in the grown corpus at the end), and
# fails if any harness found something; a finding's input is kept as
# fuzz-findings/<harness>-crash-* for a regression test.
# Usage: fuzz/run.sh SECONDS [harness...]   (default: every build-fuzz/fuzz_* binary)
# FUZZ_KEEP_CORPUS=DIR keeps each grown corpus under DIR/<harness>/ (for long campaigns);
# FUZZ_BIN_DIR=DIR runs copies of the binaries from DIR (so a rebuild cannot swap them mid-run).
set -u
cd "$(dirname "$0")/.."
secs=${1:?usage: fuzz/run.sh SECONDS [harness...]}
shift
[ $# -gt 0 ] || set -- $(cd "${FUZZ_BIN_DIR:-build-fuzz}" && ls fuzz_* 2>/dev/null)
[ $# -gt 0 ] || { echo "fuzz/run.sh: no harness built (make fuzz)"; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p fuzz-findings
bad=""
printf '%-22s %8s %12s %8s %7s  %s\n' harness seconds execs exec/s corpus result
for h in "$@"; do
  h=$(basename "$h")
  bin=${FUZZ_BIN_DIR:-build-fuzz}/$h
  [ -x "$bin" ] || { echo "$h: not built"; bad="$bad $h"; continue; }
  work=$(mktemp -d)
  corpus=${FUZZ_KEEP_CORPUS:+$FUZZ_KEEP_CORPUS/$h}
  corpus=${corpus:-$work/corpus}
  mkdir -p "$corpus"
  cp -n fuzz/corpus/"$h"/* "$corpus"/ 2>/dev/null
  start=$(date +%s)
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="fuzz-findings/$h-" "$corpus" >"$work/log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
  files=$(find "$corpus" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    result="no finding"
  else
    result="FINDING (exit $rc)"
    bad="$bad $h"
    grep -E 'ERROR|runtime error|SUMMARY|==[0-9]+==|#[0-9]+ 0x' "$work/log" | head -n 30
  fi
  printf '%-22s %8s %12s %8s %7s  %s\n' "$h" "$took" "${execs:-?}" "${rate:-?}" "$files" "$result"
  rm -rf "$work"
done
[ -z "$bad" ] || { echo "fuzz findings or failures:$bad (inputs in fuzz-findings/)"; exit 1; }
