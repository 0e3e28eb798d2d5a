#!/usr/bin/env bash
# The GPU tests (npm run test:gpu): builds the addon with the CUDA backend into build/ with plain
# cmake (no cmake-js), then runs test/gpu/*.test.mjs with node:test against dist/ (built by tsc
# beforehand; TypeScript is not needed here). Needs: cmake, a C++17 compiler, a CUDA toolkit with
# cuBLAS, cuBLASLt and NVRTC (cuDNN 9 for Conv), node, and in node_modules node-addon-api plus
# node-api-headers (or the node binary's own include/node). protobufjs in node_modules enables the
# whole-model tests (cuda-models), which compile ONNX models; without it they are skipped.
#
# Environment: CUDAToolkit_ROOT, CUDNN_ROOT (where they are not in system folders), JOBS (parallel
# compiles, default: all cores), NODE (the node binary), MCPC_TEST_GPU_NO_BUILD=1 (use build/ as is).
set -euo pipefail
cd "$(dirname "$0")/.."
NODE=${NODE:-node}

if [ ! -f dist/runtime/index.js ]; then
  echo "test-gpu: dist/ is missing: build it with 'npm run build' (tsc) and bring it along" >&2
  exit 1
fi

if [ "${MCPC_TEST_GPU_NO_BUILD:-0}" != 1 ]; then
  napi_inc=
  if [ -f node_modules/node-api-headers/include/node_api.h ]; then
    napi_inc=$PWD/node_modules/node-api-headers/include
  else
    prefix=$(dirname "$(dirname "$(command -v "$NODE")")")
    [ -f "$prefix/include/node/node_api.h" ] && napi_inc=$prefix/include/node
  fi
  if [ -z "$napi_inc" ]; then
    echo "test-gpu: no N-API headers (node_modules/node-api-headers/include or <node prefix>/include/node)" >&2
    exit 1
  fi
  # A build/ configured by cmake-js (maybe another generator, or without CUDA) is reconfigured from scratch.
  if [ -f build/CMakeCache.txt ] && ! grep -q '^MCPC_CUDA:STRING=ON$' build/CMakeCache.txt; then
    rm -rf build/CMakeCache.txt build/CMakeFiles
  fi
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMCPC_CUDA=ON \
    -DCMAKE_JS_INC="$napi_inc" -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/build/Release" \
    ${CUDAToolkit_ROOT:+-DCUDAToolkit_ROOT="$CUDAToolkit_ROOT"} ${CUDNN_ROOT:+-DCUDNN_ROOT="$CUDNN_ROOT"}
  cmake --build build --parallel "${JOBS:-$(nproc)}"
fi

"$NODE" -e "
const a = require('./build/Release/mcpc_native.node');
const info = a.buildInfo();
console.log('test-gpu: addon', JSON.stringify({ cuda: info.cuda, cudnn: info.cudnn, cudaVersion: info.cudaVersion, cudnnVersion: info.cudnnVersion }));
console.log('test-gpu: devices', JSON.stringify(a.cudaDevices()));
if (!info.cuda) process.exit(1);
"

status=0
for f in test/gpu/*.test.mjs; do
  echo "test-gpu: $f"
  "$NODE" --test "$f" || status=1
done
exit $status
