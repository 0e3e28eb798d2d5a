#!/usr/bin/env bash
# Runs a GPU bundle written by the cuda tests (MCPC_CUDA_GPU_BUNDLE=dir npx vitest run test/cuda) on
# a machine with a CUDA device and nvcc: builds every case's main.cpp with the real prelude
# (native/cuda), runs it, runs it again under compute-sanitizer (memcheck, racecheck, synccheck),
# and compares the outputs with the interpreter's and the emulator's (compare.py).
#   test/cuda/device/run-bundle.sh BUNDLE_DIR [ARCH (sm_90)]
set -u
B=$(cd "$1" && pwd)
ARCH=${2:-sm_90}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
export ROOT ARCH
build() {
  d=$1
  nvcc -std=c++17 -O2 -arch="$ARCH" -I "$ROOT/native/cuda" -I "$ROOT/test/cuda/device" -I "$ROOT/test/cuda/emulator" -I "$d" -x cu "$d/main.cpp" -o "$d/run" 2>"$d/build.log" || { echo "BUILD FAILED: $d"; head -30 "$d/build.log"; }
}
export -f build
t0=$(date +%s)
ls -d "$B"/*/ | xargs -P "$(nproc)" -I{} bash -c 'build {}'
echo "built in $(( $(date +%s) - t0 )) s"
check() {
  d=$1
  if ! "$d/run" "$d/data" >"$d/run.log" 2>&1; then echo "RUN FAILED: $d"; cat "$d/run.log"; return; fi
  for tool in memcheck racecheck synccheck; do
    if ! compute-sanitizer --tool "$tool" --error-exitcode 9 --print-limit 5 "$d/run" "$d/data" >"$d/$tool.log" 2>&1; then
      echo "$tool FAILED: $d"; tail -20 "$d/$tool.log"
    fi
  done
}
export -f check
ls -d "$B"/*/ | xargs -P 8 -I{} bash -c '[ -x {}/run ] && check {}' | tee "$B/failures.log"
status=0
[ -s "$B/failures.log" ] && status=1
echo "ran in $(( $(date +%s) - t0 )) s"
python3 "$ROOT/test/cuda/device/compare.py" "$B" || status=1
exit $status
