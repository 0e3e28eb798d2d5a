#!/usr/bin/env python3
"""The PyTorch side of `npm run bench:gpu` (scripts/bench-gpu.sh), run on a machine with a CUDA GPU.

    python3 scripts/bench_gpu_torch.py --out bench-gpu [--models resnet50,mobilenet_v2,bert,gpt2]
        [--iters 200] [--skip-compile | --compile-budget SECONDS] [--weights conditioned|plain]

For every model (random weights, scripts/export-models.py's builders): exports it to ONNX once
(TorchScript exporter, opset 17, dynamic batch), then for batch 1 and the large batch
(BATCHES) writes the inputs and onnxruntime's float32 outputs (CPU) as .npy, and times PyTorch in
fp16 on the GPU: eager and torch.compile(mode="reduce-overhead") (CUDA graphs), median of CUDA-event
timings, plus eager's peak device memory. Also measures the card: device-to-device copy bandwidth
and the fp16 matrix rate (a large matmul), so the report can say what fraction of them a run
reaches. Writes <out>/torch.json; scripts/bench-gpu.ts runs mcpc on the same files.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("export_models", HERE / "export-models.py")
export_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_models)

# (model, large batch) as in the CUDA backend's targets; sequence length 128 for the transformers.
BATCHES = {"resnet50": 64, "mobilenet_v2": 64, "bert": 32, "gpt2": 16}
SEQ = 128


def cuda_time_ms(fn, iters: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def card_rates() -> dict:
    n = 1 << 28  # 1 GiB of float32
    a = torch.empty(n, dtype=torch.float32, device="cuda")
    b = torch.empty_like(a)
    t = statistics.median(cuda_time_ms(lambda: b.copy_(a), 20, 5))
    copy_gbs = 2 * a.numel() * 4 / (t * 1e-3) / 1e9  # read + write
    del a, b
    m = 8192
    x = torch.randn(m, m, dtype=torch.float16, device="cuda")
    y = torch.randn(m, m, dtype=torch.float16, device="cuda")
    t = statistics.median(cuda_time_ms(lambda: x @ y, 20, 5))
    tflops = 2 * m**3 / (t * 1e-3) / 1e12
    return {"copyGBs": copy_gbs, "fp16Tflops": tflops, "device": torch.cuda.get_device_name(0)}


def inputs_at(spec, batch: int):
    """Deterministic inputs of the spec's kinds at `batch` (images in [-1, 1), token ids, masks)."""
    g = torch.Generator().manual_seed(1234 + batch)
    out = []
    for name, t in spec.inputs:
        shape = (batch,) + tuple(t.shape[1:])
        if t.dtype.is_floating_point:
            out.append((name, torch.rand(shape, generator=g) * 2 - 1))
        elif name == "input_ids":
            vocab = spec.input_meta[name]["vocab"]
            out.append((name, torch.randint(0, vocab, shape, generator=g, dtype=t.dtype)))
        else:
            out.append((name, torch.full(shape, spec.input_meta.get(name, {}).get("fill", 0), dtype=t.dtype)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench-gpu")
    ap.add_argument("--models", default=",".join(BATCHES))
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--skip-compile", action="store_true", help="time eager only (torch.compile takes minutes)")
    ap.add_argument("--compile-budget", type=float, default=0,
                    help="seconds of torch.compile for the whole run (0: no limit); configurations after it is spent are timed eager only")
    ap.add_argument("--weights", default="conditioned", choices=export_models.WEIGHTS,
                    help="random weights as export-models.py --weights makes them (plain: the libraries' own init)")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    report = {"torch": torch.__version__, "card": card_rates(), "weights": a.weights, "models": []}
    compile_seconds = 0.0
    print(f"card: {report['card']}", flush=True)
    for name in a.models.split(","):
        spec = export_models.build_full_model(name, 1, SEQ, "sdpa", a.weights)
        onnx_path = out / f"{name}.onnx"
        t0 = time.time()
        export_models.export_onnx(spec, onnx_path, "torchscript", 17, True)
        print(f"{name}: exported in {time.time() - t0:.1f} s", flush=True)
        import onnxruntime

        ort_session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        module = spec.module.cuda().eval()
        # The fp16 timings convert the module in place; each batch starts from the float32 weights.
        float_state = {k: v.clone() for k, v in module.state_dict().items()}
        for batch in (1, BATCHES[name]):
            module.float().load_state_dict(float_state)
            case = out / f"{name}.b{batch}"
            case.mkdir(exist_ok=True)
            feeds = inputs_at(spec, batch)
            for n, t in feeds:
                np.save(case / f"{n}.npy", t.numpy())
            dev = [t.cuda() for _, t in feeds]
            with torch.no_grad():
                ref = module.float()(*dev)
            ref = ref if isinstance(ref, (tuple, list)) else (ref,)
            # The reference is onnxruntime (CPU, float32) on the exported model; PyTorch's float32
            # outputs (TF32 off) are kept beside it as a check of the export.
            ort_out = ort_session.run(None, {n: t.numpy() for n, t in feeds})
            export_err = 0.0
            for n, t, o in zip(spec.output_names, ref, ort_out):
                np.save(case / f"{n}.expected.npy", o)
                t = t.float().cpu().numpy()
                export_err = max(export_err, float(np.abs(t - o).max() / max(np.abs(o).max(), 1e-30)))
            half = module.half()
            dev16 = [t.half() if t.is_floating_point() else t for t in dev]
            entry = {"model": name, "batch": batch, "case": case.name, "inputs": [n for n, _ in feeds], "outputs": spec.output_names, "torchVsOrt": export_err}
            with torch.no_grad():
                # PyTorch's own fp16 error against the same reference: how much of mcpc's fp16 error
                # is the model's (random weights rounded to fp16) rather than mcpc's. Freed before
                # the peak-memory window opens.
                out16 = half(*dev16)
                out16 = out16 if isinstance(out16, (tuple, list)) else (out16,)
                entry["torchFp16VsOrt"] = max(
                    float(np.abs(t.float().cpu().numpy() - o).max() / max(np.abs(o).max(), 1e-30)) for t, o in zip(out16, ort_out))
                del out16
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
                eager = cuda_time_ms(lambda: half(*dev16), a.iters)
                entry["eagerMs"] = statistics.median(eager)
                entry["eagerPeakBytes"] = torch.cuda.max_memory_allocated() - base + sum(p.numel() * p.element_size() for p in half.parameters())
                if a.skip_compile:
                    pass
                elif a.compile_budget and compile_seconds >= a.compile_budget:
                    entry["compileSkipped"] = f"the {a.compile_budget:.0f} s compile budget was spent"
                else:
                    t0 = time.time()
                    compiled = torch.compile(half, mode="reduce-overhead")
                    for _ in range(3):
                        compiled(*dev16)
                    entry["compileSeconds"] = time.time() - t0
                    compile_seconds += entry["compileSeconds"]
                    entry["compiledMs"] = statistics.median(cuda_time_ms(lambda: compiled(*dev16), a.iters))
                    torch._dynamo.reset()
            report["models"].append(entry)
            print(json.dumps(entry), flush=True)
            # Written after every configuration, so a run cut short keeps what it measured.
            (out / "torch.json").write_text(json.dumps(report, indent=2))
        del module
        torch.cuda.empty_cache()
    (out / "torch.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
