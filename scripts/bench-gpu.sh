#!/usr/bin/env bash
# npm run bench:gpu: mcpc and PyTorch side by side on a CUDA machine (docs/PERFORMANCE.md, GPU).
#   scripts/bench-gpu.sh [DIR] [extra args for scripts/bench_gpu_torch.py]
# 1. scripts/bench_gpu_torch.py exports the models, writes inputs and float32 outputs and times
#    PyTorch fp16 (eager, torch.compile mode="reduce-overhead"); 2. scripts/bench-gpu.ts compiles
#    and runs them with mcpc (fp32 and fp16) and writes the table. Needs the CUDA build of the addon
#    (npm run test:gpu builds it) and the compiled TypeScript in dist/ (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bench-gpu}
shift || true
python3 scripts/bench_gpu_torch.py --out "$dir" "$@"
node dist/scripts/bench-gpu.js --dir "$dir"
