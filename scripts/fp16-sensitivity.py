#!/usr/bin/env python3
"""Where a CNN's fp16 error comes from: simulated fp16 storage, tensor class by tensor class.

    python3 scripts/fp16-sensitivity.py [--models resnet50,mobilenet_v2] [--batch 1] [--seeds 2]
                                        [--json out.json] [--weights conditioned|plain]

An fp16 plan stores activations and weights in half precision and computes in float32. On the
random-weight CNNs of the GPU bench (scripts/export-models.py's build_full_model, the weights the
bench uses) that costs 1.4e-2 to 3.2e-2 in the bench's error metric (docs/PERFORMANCE.md), while
bert and gpt2 stay within 1e-2. This script says which stored tensors that error comes from.

It runs the model in float64 with BatchNormalization folded into the convolutions, as the
compiler folds it, and rounds a chosen set of tensors through fp16 where the plan would store
them: the input, the folded conv weights and biases, the Linear weight and bias, and the output
of every conv, residual add, Relu/Relu6, pooling and Linear (Relu, Relu6 and max-pool of stored
values are exact, so their outputs need no rounding of their own). Arithmetic stays float64, so
what is measured is the storage rounding alone, not the accumulation order of any kernel. The
reference is the same float64 run with nothing rounded.

Inputs are the bench's (scripts/bench_gpu_torch.py inputs_at): uniform in [-1, 1), generator
seed 1234 + batch; seed s > 0 adds 1000 * s (same distribution, other images).

Printed per model, one column per seed and their mean, as max |diff| / max |reference| (the
bench's "max rel err"):
  everything fp16          what an fp16 plan stores; compare with the bench's fp16 rows
  input only / weights only / activations only
                           one class of tensor rounded, the rest exact
  input+stem+stage1 fp32   everything but the input, the stem and the first stage (resnet50's
                           layer1, mobilenet_v2's features[0..3]) rounded
  only <stage>             the attribution: only the weights and outputs of that stage rounded
                           (the input's share is the input-only row). Stages, in network order:
                           stem (resnet50 conv1; mobilenet_v2 features[0]);
                           stage1..4 (resnet50 layer1..4; mobilenet_v2 features[1..3], [4..6],
                           [7..13], [14..17], one per output resolution 56, 28, 14, 7);
                           last (mobilenet_v2 features[18], the 1x1 conv to 1280 channels);
                           head (pooling and the Linear).
  check                    the unrounded float64 run against the PyTorch module in float32:
                           1e-5 or less says the folded forward here is the model.
The input's and the stages' errors add roughly in quadrature (root of the sum of squares), not
linearly, to the everything-fp16 row. A stage whose own row is large, and whose removal (the
stage1 fp32 row) shrinks the total, is where a mixed-precision plan would keep float32.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
# Loading export-models.py also defines the torchvision::nms placeholder schemas that importing
# torchvision needs with the CPU build of torch.
_spec = importlib.util.spec_from_file_location("export_models", HERE / "export-models.py")
export_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_models)

# torch probes NNPACK for CPU convolutions and, on CPUs it does not support, warns on every one;
# the float64 convolutions here cannot use it anyway.
torch.backends.nnpack.set_flags(False)

F64 = torch.float64
MODELS = ("resnet50", "mobilenet_v2")
# mobilenet_v2: (stage, end): features[i] belongs to the first stage with i < end; stage1..4 end
# with the last block of output resolution 56, 28, 14 and 7.
MBV2_STAGES = [("stem", 1), ("stage1", 4), ("stage2", 7), ("stage3", 14), ("stage4", 18), ("last", 19)]
# The stages after the input, in network order; the input is stage "input" (its only tensor).
STAGES = {
    "resnet50": ["stem", "stage1", "stage2", "stage3", "stage4", "head"],
    "mobilenet_v2": ["stem", "stage1", "stage2", "stage3", "stage4", "last", "head"],
}
STAGE_ORDER = STAGES["mobilenet_v2"]
CHECK = "check: fp64 vs torch fp32"
CLASS_ROWS = {
    "everything fp16": lambda stage, kind: True,
    "input only": lambda stage, kind: kind == "input",
    "weights only": lambda stage, kind: kind == "weight",
    "activations only": lambda stage, kind: kind == "act",
    "input+stem+stage1 fp32": lambda stage, kind: stage not in ("input", "stem", "stage1"),
}


class Storage:
    """Rounds a tensor through fp16 where `keep_half(stage, kind)` says the plan stores it in fp16.

    kind is "input", "weight" (weights and biases) or "act" (an op's output); stage is "input"
    or one of STAGES[model].
    """

    def __init__(self, keep_half):
        """keep_half: (stage, kind) -> bool; None rounds nothing (the reference run)."""
        self.keep_half = keep_half

    def __call__(self, t: torch.Tensor, stage: str, kind: str) -> torch.Tensor:
        """t as stored: rounded to fp16 and back to float64, or unchanged."""
        if self.keep_half is not None and self.keep_half(stage, kind):
            return t.to(torch.float16).to(F64)
        return t


def fold(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d, stage: str) -> dict:
    """A conv with its following BatchNorm folded in (float64 weight and bias), tagged with its stage."""
    w = conv.weight.detach().to(F64)
    b = conv.bias.detach().to(F64) if conv.bias is not None else torch.zeros(w.shape[0], dtype=F64)
    scale = bn.weight.detach().to(F64) / torch.sqrt(bn.running_var.detach().to(F64) + bn.eps)
    return {
        "w": w * scale.view(-1, 1, 1, 1),
        "b": (b - bn.running_mean.detach().to(F64)) * scale + bn.bias.detach().to(F64),
        "stride": conv.stride,
        "padding": conv.padding,
        "groups": conv.groups,
        "stage": stage,
    }


def conv(store: Storage, p: dict, x: torch.Tensor) -> torch.Tensor:
    """A folded conv with stored weight, bias and output."""
    s = p["stage"]
    y = F.conv2d(x, store(p["w"], s, "weight"), store(p["b"], s, "weight"), p["stride"], p["padding"], 1, p["groups"])
    return store(y, s, "act")


def head(store: Storage, p: dict, x: torch.Tensor) -> torch.Tensor:
    """Global average pooling and the Linear classifier, each output stored."""
    pooled = store(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), "head", "act")
    return store(F.linear(pooled, store(p["w"], "head", "weight"), store(p["b"], "head", "weight")), "head", "act")


def linear_params(fc: torch.nn.Linear) -> dict:
    """A Linear layer's weight and bias in float64."""
    return {"w": fc.weight.detach().to(F64), "b": fc.bias.detach().to(F64)}


def prep_resnet(m) -> dict:
    """torchvision ResNet-50 as folded float64 parameters: stem, four stages of bottlenecks, fc."""
    stages = []
    for si, layer in enumerate((m.layer1, m.layer2, m.layer3, m.layer4)):
        s = f"stage{si + 1}"
        stages.append([
            {
                "c1": fold(blk.conv1, blk.bn1, s),
                "c2": fold(blk.conv2, blk.bn2, s),
                "c3": fold(blk.conv3, blk.bn3, s),
                "ds": fold(blk.downsample[0], blk.downsample[1], s) if blk.downsample is not None else None,
                "stage": s,
            }
            for blk in layer
        ])
    return {"stem": fold(m.conv1, m.bn1, "stem"), "stages": stages, "fc": linear_params(m.fc)}


def run_resnet(P: dict, x: torch.Tensor, store: Storage) -> torch.Tensor:
    """ResNet-50's forward on prep_resnet's parameters, storing tensors through `store`."""
    x = store(x, "input", "input")
    x = F.max_pool2d(F.relu(conv(store, P["stem"], x)), 3, 2, 1)
    for blocks in P["stages"]:
        for B in blocks:
            o = F.relu(conv(store, B["c1"], x))
            o = F.relu(conv(store, B["c2"], o))
            o = conv(store, B["c3"], o)
            identity = conv(store, B["ds"], x) if B["ds"] is not None else x
            x = F.relu(store(o + identity, B["stage"], "act"))
    return head(store, P["fc"], x)


def mbv2_stage(index: int) -> str:
    """The stage of mobilenet_v2's features[index] (MBV2_STAGES)."""
    return next(name for name, end in MBV2_STAGES if index < end)


def prep_mbv2(m) -> dict:
    """torchvision MobileNetV2 as folded float64 parameters.

    Each features[i] becomes a block: its convs in order, each with whether Relu6 follows, and
    whether the block adds its input (InvertedResidual.use_res_connect). A Conv2dNormActivation is
    Sequential(conv, bn, relu6); an InvertedResidual's `conv` holds Conv2dNormActivations and ends
    in a bare conv + bn.
    """
    blocks = []
    for i, f in enumerate(m.features):
        s = mbv2_stage(i)
        if hasattr(f, "conv"):
            mods, convs, j = list(f.conv), [], 0
            while j < len(mods):
                if isinstance(mods[j], torch.nn.Conv2d):
                    convs.append((fold(mods[j], mods[j + 1], s), False))
                    j += 2
                else:
                    convs.append((fold(mods[j][0], mods[j][1], s), True))
                    j += 1
            blocks.append({"convs": convs, "residual": f.use_res_connect, "stage": s})
        else:
            blocks.append({"convs": [(fold(f[0], f[1], s), True)], "residual": False, "stage": s})
    return {"blocks": blocks, "fc": linear_params(m.classifier[1])}


def run_mbv2(P: dict, x: torch.Tensor, store: Storage) -> torch.Tensor:
    """MobileNetV2's forward on prep_mbv2's parameters (dropout is identity in eval), storing
    tensors through `store`."""
    x = store(x, "input", "input")
    for B in P["blocks"]:
        o = x
        for p, relu6 in B["convs"]:
            o = conv(store, p, o)
            if relu6:
                o = o.clamp(0, 6)
        x = store(x + o, B["stage"], "act") if B["residual"] else o
    return head(store, P["fc"], x)


def inputs(batch: int, seed: int) -> torch.Tensor:
    """Images in [-1, 1) as the bench makes them; seed 0 is exactly bench_gpu_torch.inputs_at(batch)."""
    g = torch.Generator().manual_seed(1234 + batch + 1000 * seed)
    return torch.rand(batch, 3, 224, 224, generator=g) * 2 - 1


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    """max |out - ref| / max |ref|, the bench's error metric."""
    return ((out - ref).abs().max() / ref.abs().max()).item()


def study(name: str, batch: int, seeds: int, weights: str = "conditioned") -> dict:
    """Row label -> per-seed errors for one model (CLASS_ROWS, one "only <stage>" row per stage, check)."""
    # Built as the bench builds it (batch 1, whatever --batch is): the same BN calibration, so the same weights.
    module = export_models.build_full_model(name, 1, 128, "sdpa", weights).module.eval()
    prep, run = (prep_resnet, run_resnet) if name == "resnet50" else (prep_mbv2, run_mbv2)
    P = prep(module)
    rows = {label: [] for label in CLASS_ROWS}
    rows.update({f"only {s}": [] for s in STAGES[name]})
    rows[CHECK] = []
    for seed in range(seeds):
        x = inputs(batch, seed)
        x64 = x.to(F64)
        ref = run(P, x64, Storage(None))
        for label, keep_half in CLASS_ROWS.items():
            rows[label].append(rel_err(run(P, x64, Storage(keep_half)), ref))
        for s in STAGES[name]:
            rows[f"only {s}"].append(rel_err(run(P, x64, Storage(lambda stage, kind, s=s: stage == s)), ref))
        with torch.no_grad():
            rows[CHECK].append(rel_err(module(x).to(F64), ref))
    return rows


def print_table(results: dict, batch: int, seeds: int) -> None:
    """One row per configuration (tensor classes, then one stage at a time, then the check); per
    model its mean over seeds, then each seed's error."""
    labels = list(CLASS_ROWS) + [f"only {s}" for s in STAGE_ORDER] + [CHECK]
    width = max(len(label) for label in labels) + 2
    cols = " ".join(["mean    "] + [f"s{s:<7d}" for s in range(seeds)])
    print(f"fp16 storage error, max|diff|/max|ref| against float64, batch {batch}, "
          f"seeds 0..{seeds - 1} (seed 0 = bench inputs)")
    print(" " * width + "   ".join(f"{name:<{len(cols)}}" for name in results))
    print(" " * width + "   ".join(cols for _ in results))
    for label in labels:
        if label == "only stem":
            print("one stage rounded, the rest exact (the input alone: the input-only row)")
        cells = []
        for rows in results.values():
            es = rows.get(label)
            cells.append(" ".join(f"{v:.2e}" for v in [sum(es) / len(es)] + es) if es else " " * len(cols))
        print(f"{label:<{width}}" + "   ".join(cells))


def main() -> int:
    """Parses the command line, studies each model, prints the table and optionally writes JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=2, help="input sets per model (seed 0 = the bench's)")
    ap.add_argument("--json", help="also write {batch, seeds, models: {model: {row: [error per seed]}}} here")
    ap.add_argument("--weights", default="conditioned", choices=export_models.WEIGHTS,
                    help="as export-models.py --weights: plain keeps BatchNorm as the library initialises it")
    a = ap.parse_args()
    if a.batch < 1 or a.seeds < 1:
        raise SystemExit("--batch and --seeds must be at least 1")
    names = [m.strip() for m in a.models.split(",") if m.strip()]
    for name in names:
        if name not in MODELS:
            raise SystemExit(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    t0 = time.perf_counter()
    results = {}
    for name in names:
        results[name] = study(name, a.batch, a.seeds, a.weights)
    print_table(results, a.batch, a.seeds)
    print(f"took {time.perf_counter() - t0:.0f} s")
    if a.json:
        doc = {"batch": a.batch, "seeds": a.seeds, "models": results}
        Path(a.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
