#!/bin/bash
# Builds (two compiles at a time) and runs the standalone elementwise/movement kernel tests, until
# the CMake build exists. OUT_DIR picks the build folder.
set -e
SHELL=/bin/bash
cd "$(dirname "$0")/../../.."
out=${OUT_DIR:-/tmp/mcpc-elementwise-test}
mkdir -p "$out"
export out
flags="-std=c++17 -O2 -g -Wall -Wextra -Inative/core"
export flags
compile() {  # file [extra flags]
  o="$out/$(basename "$1" .cc).o"
  newest=$(ls -t "$1" native/core/kernels/elementwise.h native/core/kernels/elementwise_simd.h "$o" 2>/dev/null | head -1)
  [ "$newest" = "$o" ] || g++ $flags $2 -c "$1" -o "$o"
}
export -f compile 2>/dev/null || true
{
  for f in native/core/kernels/elementwise.cc native/core/kernels/activation.cc native/core/kernels/cast.cc \
           native/core/kernels/movement.cc native/core/kernels/movement_index.cc native/core/kernels/movement_generate.cc \
           native/core/kernels/movement_resize.cc native/tests/elementwise/test_elementwise.cc; do
    [ -f "$f" ] && echo "$f|"
  done
  echo "native/core/kernels/elementwise_avx2.cc|-mavx2 -mfma -mf16c"
  echo "native/core/kernels/elementwise_avx512.cc|-mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c"
} | xargs -P2 -I{} bash -c 'compile "${1%%|*}" "${1#*|}"' _ {}
g++ -o "$out/test_elementwise" "$out"/*.o -lpthread
"$out/test_elementwise"
