#!/bin/sh
# Builds the standalone kernel tests (until the CMake build exists): each kernel file with its ISA
# flags, the test stubs, then one binary per test. Usage: native/tests/build.sh [outdir]
set -e
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/mcpc-kernel-tests}
mkdir -p "$OUT"
CXX="g++ -std=c++17 -O2 -g -Wall -Wextra -Inative/core"
AVX2="-mavx2 -mfma -mf16c"
AVX512="-mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c"
objs=""
for f in native/core/kernels/gemm*.cc native/core/kernels/matmul.cc native/core/kernels/conv*.cc \
         native/core/kernels/pool.cc native/core/kernels/pool_avx512.cc native/core/kernels/norm*.cc native/core/kernels/softmax*.cc \
         native/core/kernels/reduce.cc native/core/kernels/rows*.cc native/core/kernels/elementwise*.cc \
         native/tests/kernel_test_stubs.cc; do
  [ -f "$f" ] || continue
  o="$OUT/$(basename "$f" .cc).o"
  case "$f" in
    *_avx512.cc) flags="$AVX512" ;;
    *_avx2.cc) flags="$AVX2" ;;
    *) flags="" ;;
  esac
  if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || [ native/core/kernels/gemm.h -nt "$o" ]; then
    echo "cc $f"
    $CXX $flags -c "$f" -o "$o" &
    # two cores shared with others: at most two compiles at once
    [ "$(jobs -p | wc -l)" -ge 2 ] && wait -n 2>/dev/null || true
  fi
  objs="$objs $o"
done
wait
for t in native/tests/*_test.cc; do
  $CXX "$t" $objs -lpthread -o "$OUT/$(basename "$t" .cc)"
done
echo "built in $OUT"
