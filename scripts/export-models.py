#!/usr/bin/env python3
"""Export full-size benchmark models to ONNX with random weights.

    python3 scripts/export-models.py --out models \
        [--models resnet50,mobilenet_v2,vit_b_16,bert,gpt2] \
        [--exporter torchscript|dynamo|both] [--batch 1] [--seq 128] [--dynamic] [--opset 17]
        [--weights conditioned|plain]

Writes, for every model and exporter:
  <out>/<name>.<exporter>.onnx          single file, weights inline (also for dynamo: external_data=False;
                                        every model here is far below the 2 GiB protobuf limit)
  <out>/<name>.<exporter>.inputs.json   input names / dtypes / dims (+ vocab for token ids, fill for masks)
and, over everything found in <out> at the end:
  <out>/op-histogram.txt                op-type histogram, opset and IR version of every model
  <out>/export-report.json              export/check times, sizes, ORT-vs-torch max abs diff, failures

Weights are random (torch.manual_seed(0) before each model is built; see condition_weights for the
BN calibration / zero-head fix that keeps outputs non-degenerate); nothing is downloaded.
--weights plain keeps the libraries' own initialisation instead (BatchNorm statistics 0/1 and
gamma/beta 1/0): random-init MobileNetV2's activations then shrink to ~1e-10 at the logits, below
what float16 holds, which is what a mixed-precision plan must notice.
Every exported file is checked: onnx.checker, then an onnxruntime (CPU) run compared to PyTorch.

The helpers here (build_*, export_onnx, check_with_ort, ...) are reused by scripts/make-fixtures.py.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import torch

# torchvision's meta registrations reference torchvision::nms / torchvision::qnms, which the CPU torch
# build's torchvision binary does not define here ("operator torchvision::nms does not exist").
# Define placeholder schemas (same signature as torchvision's) before importing torchvision.
# A CUDA build of torch loads torchvision's own ops, which must then not be defined twice.
for _op in ("nms", "qnms") if torch.version.cuda is None else ():
    try:
        torch.library.define(f"torchvision::{_op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    except RuntimeError:
        pass  # already defined (real torchvision ops present, or defined by an earlier import)

import torchvision  # noqa: E402  (must follow the placeholder definitions)
import torchvision.models as tvm  # noqa: E402

ALL_MODELS = ["resnet50", "mobilenet_v2", "vit_b_16", "bert", "gpt2"]
EXPORTERS = ["torchscript", "dynamo"]
SEED = 0
WEIGHTS = ("conditioned", "plain")


# --------------------------------------------------------------------------------------------------
# Model specs: a module, ordered example inputs, input metadata, output names.
# --------------------------------------------------------------------------------------------------


class ModelSpec:
    def __init__(self, name, module, inputs, output_names, input_meta, dynamic_axes):
        self.name = name
        self.module = module
        # ordered list of (name, tensor)
        self.inputs = inputs
        self.output_names = output_names
        # name -> extra inputs.json fields (vocab / fill)
        self.input_meta = input_meta
        # name -> {axis: axis_name} used when --dynamic is given
        self.dynamic_axes = dynamic_axes


def condition_weights(module: torch.nn.Module, example: torch.Tensor | None = None, calibrate_bn: bool = True) -> torch.nn.Module:
    """Make a randomly initialised model numerically non-degenerate (deterministic under the caller's seed).

    - Linear weights that the library zero-initialises (torchvision ViT's classification head) get
      normal(0, 0.02), otherwise the model's output is identically 0.
    - BatchNorm running statistics are calibrated on one random batch (cumulative average over that
      batch), so every BN normalises its input: without this, random-init MobileNetV2 (kaiming fan_out
      init on depthwise convs) shrinks activations to ~1e-10 at the logits; gamma/beta get mild
      random values so BN (or the Conv it is folded into) is not an identity. calibrate_bn=False
      (--weights plain) leaves BatchNorm as the library initialises it.
    """
    for m in module.modules():
        if isinstance(m, torch.nn.Linear) and not torch.any(m.weight):
            torch.nn.init.normal_(m.weight, std=0.02)
    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if bns and example is not None and calibrate_bn:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
        module.train()
        with torch.no_grad():
            module(example)
        for m in bns:
            m.momentum = 0.1
    return module.eval()


def image_spec(name: str, module: torch.nn.Module, batch: int, size: int, weights: str = "conditioned") -> ModelSpec:
    g = torch.Generator().manual_seed(1234)
    x = torch.rand(batch, 3, size, size, generator=g) * 2 - 1
    calib = torch.rand(max(batch, 4), 3, size, size, generator=g) * 2 - 1
    return ModelSpec(
        name,
        condition_weights(module, calib, calibrate_bn=weights == "conditioned"),
        [("input", x)],
        ["logits"],
        {"input": {}},
        {"input": {0: "batch"}, "logits": {0: "batch"}},
    )


class BertWrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, return_dict=False
        )
        return out[0], out[1]


class GPT2Wrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, return_dict=False)
        return out[0]


def token_inputs(batch: int, seq: int, vocab: int, with_token_types: bool):
    g = torch.Generator().manual_seed(4321)
    ids = torch.randint(0, vocab, (batch, seq), generator=g, dtype=torch.int64)
    mask = torch.ones(batch, seq, dtype=torch.int64)
    inputs = [("input_ids", ids), ("attention_mask", mask)]
    meta = {"input_ids": {"vocab": vocab}, "attention_mask": {"fill": 1}}
    if with_token_types:
        inputs.append(("token_type_ids", torch.zeros(batch, seq, dtype=torch.int64)))
        meta["token_type_ids"] = {"fill": 0}
    return inputs, meta


def bert_spec(name: str, config, batch: int, seq: int, attn: str) -> ModelSpec:
    from transformers import BertModel

    config._attn_implementation = attn
    model = condition_weights(BertModel(config, add_pooling_layer=True))
    inputs, meta = token_inputs(batch, seq, config.vocab_size, True)
    seq_axes = {0: "batch", 1: "sequence"}
    dyn = {n: dict(seq_axes) for n, _ in inputs}
    dyn["last_hidden_state"] = dict(seq_axes)
    dyn["pooler_output"] = {0: "batch"}
    return ModelSpec(name, BertWrapper(model).eval(), inputs, ["last_hidden_state", "pooler_output"], meta, dyn)


def gpt2_spec(name: str, config, batch: int, seq: int, attn: str) -> ModelSpec:
    from transformers import GPT2Model

    config._attn_implementation = attn
    config.use_cache = False
    model = condition_weights(GPT2Model(config))
    inputs, meta = token_inputs(batch, seq, config.vocab_size, False)
    seq_axes = {0: "batch", 1: "sequence"}
    dyn = {n: dict(seq_axes) for n, _ in inputs}
    dyn["last_hidden_state"] = dict(seq_axes)
    return ModelSpec(name, GPT2Wrapper(model).eval(), inputs, ["last_hidden_state"], meta, dyn)


def build_full_model(name: str, batch: int, seq: int, attn: str, weights: str = "conditioned") -> ModelSpec:
    """weights: 'conditioned' (condition_weights calibrates BatchNorm) or 'plain' (library init)."""
    if weights not in WEIGHTS:
        raise SystemExit(f"unknown --weights {weights!r}; known: {', '.join(WEIGHTS)}")
    torch.manual_seed(SEED)
    if name == "resnet50":
        return image_spec(name, tvm.resnet50(weights=None), batch, 224, weights)
    if name == "mobilenet_v2":
        return image_spec(name, tvm.mobilenet_v2(weights=None), batch, 224, weights)
    if name == "vit_b_16":
        return image_spec(name, tvm.vit_b_16(weights=None), batch, 224, weights)
    if name == "bert":
        from transformers import BertConfig

        return bert_spec(name, BertConfig(), batch, seq, attn)  # bert-base: 12 layers, hidden 768, vocab 30522
    if name == "gpt2":
        from transformers import GPT2Config

        return gpt2_spec(name, GPT2Config(), batch, seq, attn)  # 124M: 12 layers, n_embd 768, vocab 50257
    raise SystemExit(f"unknown model {name!r}; known: {', '.join(ALL_MODELS)}")


# --------------------------------------------------------------------------------------------------
# Export + checks
# --------------------------------------------------------------------------------------------------


def export_onnx(spec: ModelSpec, path: Path, exporter: str, opset: int, dynamic: bool, fix_opset: bool = True) -> list:
    """Exports spec to path; returns notes on opset repairs (dynamo only, see fix_dynamo_opset)."""
    args = tuple(t for _, t in spec.inputs)
    input_names = [n for n, _ in spec.inputs]
    dynamic_axes = spec.dynamic_axes if dynamic else None
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, Path(str(path) + ".data")):
        if stale.exists():
            stale.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(
                spec.module,
                args,
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=input_names,
                output_names=spec.output_names,
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
            )
        elif exporter == "dynamo":
            dynamic_shapes = None
            if dynamic:
                dims = {}
                dynamic_shapes = {}
                for n, t in spec.inputs:
                    axes = spec.dynamic_axes.get(n, {})
                    dynamic_shapes[n] = {
                        a: dims.setdefault(an, torch.export.Dim(an, min=1, max=4096)) for a, an in axes.items()
                    }
                dynamic_shapes = tuple(dynamic_shapes[n] for n in input_names)
            prog = torch.onnx.export(
                spec.module,
                args,
                dynamo=True,
                opset_version=opset,
                input_names=input_names,
                output_names=spec.output_names,
                dynamic_shapes=dynamic_shapes,
                optimize=True,
                verbose=False,
            )
            # Single file: weights inline (all models here are < 2 GiB).
            prog.save(str(path), external_data=False)
            if fix_opset:
                import onnx

                model = onnx.load(str(path))
                model, notes = fix_dynamo_opset(model, opset)
                if notes:
                    onnx.save(model, str(path))
                return notes
        else:
            raise ValueError(exporter)
    return []


# Ops whose `axes` moved from attribute to input in opset 18 (ReduceSum did so in 13).
_REDUCE_18 = {
    "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
}


def _all_nodes(model):
    def walk(g):
        for n in g.node:
            yield n
            for a in n.attribute:
                if a.HasField("g"):
                    yield from walk(a.g)
                for gg in a.graphs:
                    yield from walk(gg)

    yield from walk(model.graph)
    for f in model.functions:
        yield from f.node


def fix_dynamo_opset(model, target: int):
    """Brings a dynamo export down to opset `target` where the exporter left it higher or left it
    invalid, and returns notes on what was done.

    torch 2.13's dynamo exporter always builds opset 18 and then down-converts. Two failure modes seen:
    - the down-conversion fails (onnx C API: "axes_input_to_attribute ... No initializer or constant
      input to node found" for ReduceMean, converted before constant folding) and the model is left
      at opset 18;
    - the conversion "succeeds" but leaves opset-18-only attributes (Split.num_outputs), giving an
      opset-17 model the onnx checker rejects.
    Fix: run onnx.version_converter on the final (constant-folded) model, then drop leftover opset-18
    attributes whose meaning is the opset-17 default: Reduce*.noop_with_empty_axes == 0, and
    Split.num_outputs == number of outputs (opset <= 17 Split without `split` splits evenly; the
    onnxruntime-vs-torch check afterwards catches an uneven split).
    """
    import onnx
    import onnx.version_converter

    notes = []
    cur = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if cur is not None and cur > target:
        try:
            model = onnx.version_converter.convert_version(model, target)
            notes.append(f"down-converted opset {cur} -> {target} with onnx.version_converter")
        except Exception as e:  # keep the exporter's model
            notes.append(f"kept opset {cur}: onnx.version_converter failed: {str(e).splitlines()[0][:200]}")
            return model, notes
        cur = target
    if cur is not None and cur < 18:
        fixed = collections.Counter()
        for n in _all_nodes(model):
            if n.domain not in ("", "ai.onnx"):
                continue
            drop = None
            for a in n.attribute:
                if n.op_type in _REDUCE_18 and a.name == "noop_with_empty_axes":
                    if a.i != 0:
                        raise RuntimeError(f"{n.name}: noop_with_empty_axes=1 has no opset-{cur} equivalent")
                    drop = a
                elif n.op_type == "Split" and a.name == "num_outputs":
                    if a.i != len(n.output):
                        raise RuntimeError(f"{n.name}: Split num_outputs={a.i} != {len(n.output)} outputs")
                    drop = a
            if drop is not None:
                n.attribute.remove(drop)
                fixed[f"{n.op_type}.{drop.name}"] += 1
        for k, c in sorted(fixed.items()):
            notes.append(f"removed opset-18 attribute {k} from {c} node(s)")
    return model, notes


def reshaped_spec(spec: ModelSpec) -> ModelSpec:
    """The same model with other example inputs along its dynamic axes: batch 2, half the sequence."""
    inputs = []
    for n, t in spec.inputs:
        axes = spec.dynamic_axes.get(n, {})
        if 1 in axes and axes[1] == "sequence":
            t = t[:, : max(1, t.shape[1] // 2)]
        if 0 in axes:
            t = torch.cat([t[:1], torch.flip(t[:1], dims=[-1])], dim=0)
        inputs.append((n, t.contiguous()))
    return ModelSpec(spec.name, spec.module, inputs, spec.output_names, spec.input_meta, spec.dynamic_axes)


def torch_outputs(spec: ModelSpec):
    with torch.no_grad():
        out = spec.module(*[t for _, t in spec.inputs])
    if isinstance(out, torch.Tensor):
        out = (out,)
    return [o.detach().numpy() for o in out]


def check_with_ort(path: Path, spec: ModelSpec | None, feeds=None, threads: int = 2):
    """onnx.checker + an onnxruntime CPU run. Returns dict with times and max abs diff vs torch."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    res = {}
    t0 = time.perf_counter()
    onnx.checker.check_model(str(path))
    res["checker_s"] = round(time.perf_counter() - t0, 2)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    t0 = time.perf_counter()
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    res["ort_load_s"] = round(time.perf_counter() - t0, 2)
    if feeds is None:
        feeds = {n: t.numpy() for n, t in spec.inputs}
    graph_inputs = [i.name for i in sess.get_inputs()]
    feeds = {k: v for k, v in feeds.items() if k in graph_inputs}
    t0 = time.perf_counter()
    outs = sess.run(None, feeds)
    res["ort_run_s"] = round(time.perf_counter() - t0, 3)
    res["outputs"] = {o.name: list(v.shape) for o, v in zip(sess.get_outputs(), outs)}
    res["finite"] = bool(all(np.isfinite(v).all() for v in outs))
    if spec is not None:
        ref = torch_outputs(spec)
        res["max_abs_diff_vs_torch"] = float(max(float(np.max(np.abs(a - b))) for a, b in zip(outs, ref)))
        res["max_abs_output"] = float(max(float(np.max(np.abs(b))) for b in ref))
    return res


def model_facts(path: Path):
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    opsets = {(o.domain or "ai.onnx"): o.version for o in m.opset_import}
    hist = collections.Counter()
    for n in m.graph.node:
        hist[(n.domain + "::" if n.domain else "") + n.op_type] += 1
    # nested subgraphs (If/Loop/Scan) and local functions
    sub = collections.Counter()

    def walk(g):
        for n in g.node:
            for a in n.attribute:
                if a.g is not None and a.HasField("g"):
                    for nn in a.g.node:
                        sub[(nn.domain + "::" if nn.domain else "") + nn.op_type] += 1
                    walk(a.g)
                for gg in a.graphs:
                    for nn in gg.node:
                        sub[(nn.domain + "::" if nn.domain else "") + nn.op_type] += 1
                    walk(gg)

    walk(m.graph)
    funcs = {f"{f.domain}::{f.name}": len(f.node) for f in m.functions}
    n_init = len(m.graph.initializer)
    n_ext = sum(1 for t in m.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL)
    return {
        "ir_version": m.ir_version,
        "opsets": opsets,
        "producer": f"{m.producer_name} {m.producer_version}".strip(),
        "nodes": len(m.graph.node),
        "initializers": n_init,
        "external_initializers": n_ext,
        "histogram": dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))),
        "subgraph_histogram": dict(sorted(sub.items(), key=lambda kv: (-kv[1], kv[0]))),
        "functions": funcs,
        "inputs": [
            (i.name, i.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
            for i in m.graph.input
        ],
        "outputs": [
            (o.name, o.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim])
            for o in m.graph.output
        ],
    }


_ONNX_DTYPE = {1: "float32", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "float64", 16: "bfloat16"}


def write_inputs_json(path: Path, onnx_path: Path, spec: ModelSpec, dynamic: bool) -> dict:
    """inputs.json: the graph's real inputs (names/dtypes/dims as declared) + how to generate them."""
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    example = {n: list(t.shape) for n, t in spec.inputs}
    entries = []
    for i in m.graph.input:
        if i.name in inits:
            continue
        tt = i.type.tensor_type
        dims = [d.dim_param if d.dim_param else d.dim_value for d in tt.shape.dim]
        e = {"name": i.name, "dtype": _ONNX_DTYPE.get(tt.elem_type, str(tt.elem_type)), "dims": dims}
        if any(isinstance(d, str) for d in dims) and i.name in example:
            e["example_dims"] = example[i.name]
        e.update(spec.input_meta.get(i.name, {}))
        if e["dtype"].startswith("float") and "fill" not in e:
            e["range"] = [-1, 1]
        entries.append(e)
    outs = []
    for o in m.graph.output:
        tt = o.type.tensor_type
        outs.append(
            {
                "name": o.name,
                "dtype": _ONNX_DTYPE.get(tt.elem_type, str(tt.elem_type)),
                "dims": [d.dim_param if d.dim_param else d.dim_value for d in tt.shape.dim],
            }
        )
    doc = {"model": onnx_path.name, "inputs": entries, "outputs": outs}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def file_size(path: Path) -> int:
    size = path.stat().st_size if path.exists() else 0
    data = Path(str(path) + ".data")
    if data.exists():
        size += data.stat().st_size
    return size


def write_histogram(out: Path) -> None:
    lines = []
    for p in sorted(out.glob("*.onnx")):
        try:
            f = model_facts(p)
        except Exception as e:  # pragma: no cover
            lines.append(f"== {p.name}: cannot load: {e}\n")
            continue
        lines.append(f"== {p.name}  ({file_size(p) / 2**20:.1f} MiB)")
        lines.append(f"   ir_version={f['ir_version']} opsets={f['opsets']} producer={f['producer']}")
        lines.append(f"   nodes={f['nodes']} initializers={f['initializers']}")
        lines.append("   inputs: " + ", ".join(f"{n}:{_ONNX_DTYPE.get(t, t)}{d}" for n, t, d in f["inputs"]))
        lines.append("   outputs: " + ", ".join(f"{n}:{_ONNX_DTYPE.get(t, t)}{d}" for n, t, d in f["outputs"]))
        for op, c in f["histogram"].items():
            lines.append(f"   {c:6d}  {op}")
        if f["subgraph_histogram"]:
            lines.append("   -- in subgraphs:")
            for op, c in f["subgraph_histogram"].items():
                lines.append(f"   {c:6d}  {op}")
        if f["functions"]:
            lines.append("   -- local functions: " + ", ".join(f"{k}({v} nodes)" for k, v in f["functions"].items()))
        lines.append("")
    (out / "op-histogram.txt").write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models")
    ap.add_argument("--models", default=",".join(ALL_MODELS))
    ap.add_argument("--exporter", default="both", choices=["torchscript", "dynamo", "both"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--dynamic", action="store_true", help="mark batch/sequence dims dynamic ('batch', 'sequence')")
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="HF attention implementation")
    ap.add_argument(
        "--raw-dynamo",
        action="store_true",
        help="keep the dynamo exporter's model as is (no opset repair, see fix_dynamo_opset)",
    )
    ap.add_argument("--no-check", action="store_true", help="skip the onnx.checker / onnxruntime checks")
    ap.add_argument("--weights", default="conditioned", choices=WEIGHTS,
                    help="CNNs: BatchNorm calibrated on a random batch (conditioned) or as the library initialises it (plain)")
    a = ap.parse_args()

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    exporters = EXPORTERS if a.exporter == "both" else [a.exporter]
    report_path = out / "export-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}", flush=True)

    failures = 0
    for name in [m.strip() for m in a.models.split(",") if m.strip()]:
        spec = build_full_model(name, a.batch, a.seq, a.attn, a.weights)
        for exp in exporters:
            key = f"{name}.{exp}"
            path = out / f"{key}.onnx"
            entry = {"model": name, "exporter": exp, "batch": a.batch, "dynamic": a.dynamic}
            if name in ("bert", "gpt2"):
                entry["seq"] = a.seq
                entry["attn"] = a.attn
            print(f"[{key}] exporting ...", flush=True)
            t0 = time.perf_counter()
            try:
                notes = export_onnx(spec, path, exp, a.opset, a.dynamic, fix_opset=not a.raw_dynamo)
                entry["export_s"] = round(time.perf_counter() - t0, 1)
                if notes:
                    entry["opset_fix"] = notes
                entry["bytes"] = file_size(path)
                facts = model_facts(path)
                entry["ir_version"] = facts["ir_version"]
                entry["opsets"] = facts["opsets"]
                entry["nodes"] = facts["nodes"]
                write_inputs_json(out / f"{key}.inputs.json", path, spec, a.dynamic)
                if not a.no_check:
                    entry["check"] = check_with_ort(path, spec)
                    if a.dynamic:
                        entry["check_other_shape"] = check_with_ort(path, reshaped_spec(spec))
                entry["ok"] = True
                print(
                    f"[{key}] ok: {entry['export_s']}s, {entry['bytes'] / 2**20:.1f} MiB, ir={entry['ir_version']} "
                    f"opsets={entry['opsets']} nodes={entry['nodes']} fix={entry.get('opset_fix')} check={entry.get('check')}",
                    flush=True,
                )
            except Exception as e:
                failures += 1
                entry["ok"] = False
                entry["export_s"] = round(time.perf_counter() - t0, 1)
                entry["error"] = f"{type(e).__name__}: {str(e)[:2000]}"
                print(f"[{key}] FAILED after {entry['export_s']}s: {entry['error'][:500]}", flush=True)
                traceback.print_exc()
            report[key] = entry
            report_path.write_text(json.dumps(report, indent=2) + "\n")
        del spec

    write_histogram(out)
    print(f"wrote {out / 'op-histogram.txt'} and {report_path}; failures: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
