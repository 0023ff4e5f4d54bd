#!/bin/sh
# Installs every Debian package that geolabel's build, tests and benchmarks need.
# Idempotent: re-running it on a machine that has everything only re-checks.
set -eu
BUILD="build-essential pkg-config libgdal-dev gdal-bin libopenblas-dev libcjson-dev libyaml-dev \
libutf8proc-dev libcurl4-openssl-dev libssl-dev libcairo2-dev zlib1g-dev libsqlite3-dev libdnnl-dev"
# (libdnnl-dev: oneDNN 2.6, the bf16 GEMM on AMX CPUs; its runtime libdnnl2 brings libgomp1)
TEST="python3 python3-numpy python3-gdal python3-yaml python3-pil python3-torch clang-format \
slurmctld slurmd slurm-client munge nginx-light chromium chromium-driver nodejs time"
# (time: /usr/bin/time -v, the peak RSS of label_large.sh and show_overviews.sh)
# make fuzz-smoke (part of make check): libFuzzer and the sanitizer runtimes come with clang 14
FUZZ="clang libclang-rt-14-dev"
# bench/peers.sh: ONNX export (python3-onnx), onnxruntime-node through npm; bench_store.sh: bc
BENCH="hyperfine time python3-onnx nodejs npm bc"
want=""
for p in $BUILD $TEST $FUZZ ${GEOLABEL_BENCH_DEPS:+$BENCH}; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || want="$want $p"
done
# Debian's nodejs comes without npm; a machine whose image ships npm keeps its own.
command -v npm >/dev/null || want="$want npm"
if [ -n "$want" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y --no-install-recommends $want
fi
# The review page's browser test drives Debian's chromium through playwright-core, pinned by
# tests/browser/package-lock.json (npm ci installs exactly that; no browser is downloaded).
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$ROOT/tests/browser/node_modules/playwright-core" ] && command -v npm >/dev/null; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$ROOT/tests/browser" --no-audit --no-fund
fi
