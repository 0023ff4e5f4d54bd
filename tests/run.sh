#!/usr/bin/env bash
# Runs every unit test program in BUILD/tests and every CLI script in tests/cli, each in a fresh
# temporary directory (GEOLABEL_ROOT, GEOLABEL_DATA and GEOLABEL_SHARED say where things are), then prints
# one closing line "N passed, N failed, N skipped" over all of them. Usage: tests/run.sh [build-dir...]
# A unit test skips through SKIP() in harness.h; a CLI script skips by printing its reason and
# exiting 77 (SKIP_EXIT). Any skip fails the run unless GEOLABEL_ALLOW_SKIP=1: a skipped test
# proved nothing, and CI must not turn green on a machine that lacks a dependency.
set -u
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- build
ROOT=$(pwd)
export GEOLABEL_SHARED=${GEOLABEL_SHARED:-$ROOT/../shared}
export GEOLABEL_ROOT=$ROOT GEOLABEL_DATA=$ROOT/data

# Debian's python3 (with numpy and GDAL bindings), not a user's pyenv shim.
export PY=${PY:-/usr/bin/python3}
export GEOLABEL_CACHE=$(mktemp -d)
trap 'rm -rf "$GEOLABEL_CACHE"' EXIT
SKIP_EXIT=77
passed=0 failed=0 skipped=0 failed_names="" skipped_names=""
log=$(mktemp)
for BUILD in "$@"; do
echo "== $BUILD"
export GEOLABEL=$ROOT/$BUILD/geolabel
if [ "${BUILD#build-san}" != "$BUILD" ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
  export LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
fi
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$BUILD/$(basename "$t")
  work=$(mktemp -d)
  (cd "$work" && "$ROOT/$t") >"$log" 2>&1
  rc=$?
  rm -rf "$work"
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    read -r p _ f _ k _ <<<"${line//,/}"
  else
    echo "$name: no summary line (crashed or not built with tests/harness.h)"
    p=0; f=1; k=0
  fi
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
  grep -E '^(not ok|skip |  FAIL)' "$log" | head -n 40
  [ "$f" -gt 0 ] && { failed_names="$failed_names $name"; tail -n 20 "$log"; }
  [ "$k" -gt 0 ] && skipped_names="$skipped_names $name"
  echo "$name: $p passed, $f failed, $k skipped"
done
for t in tests/cli/*.sh; do
  [ -f "$t" ] || continue
  name=$BUILD/cli/$(basename "$t" .sh)
  work=$(mktemp -d)
  (cd "$work" && bash "$ROOT/$t") >"$log" 2>&1
  rc=$?
  rm -rf "$work"
  if [ $rc -eq 0 ]; then passed=$((passed + 1)); echo "$name: ok"
  elif [ $rc -eq $SKIP_EXIT ]; then
    skipped=$((skipped + 1)); skipped_names="$skipped_names $name"
    echo "$name: SKIPPED: $(tail -n 1 "$log")"
  else failed=$((failed + 1)); failed_names="$failed_names $name"; echo "$name: FAILED"; tail -n 30 "$log"; fi
done
done
rm -f "$log"
[ -n "$failed_names" ] && echo "failed:$failed_names"
[ -n "$skipped_names" ] && echo "skipped:$skipped_names"
status=0
[ "$failed" -eq 0 ] || status=1
if [ "$skipped" -gt 0 ] && [ "${GEOLABEL_ALLOW_SKIP:-0}" != 1 ]; then
  echo "skipped tests fail the run (set GEOLABEL_ALLOW_SKIP=1 to accept them)"
  status=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
