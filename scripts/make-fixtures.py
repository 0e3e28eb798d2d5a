#!/usr/bin/env python3
"""Make the small fixture models for CI tests (test/fixtures/models/) and examples/tiny-cnn.onnx.

    python3 scripts/make-fixtures.py [--out test/fixtures/models] [--models resnet18,...]
                                     [--exporter torchscript|dynamo|both] [--no-example]

Fixture models (random weights, batch 1, static shapes, opset 17 requested):
  resnet18       torchvision resnet18, 1x3x64x64
  mobilenet_v2   torchvision mobilenet_v2, 1x3x64x64
  vit_tiny       torchvision VisionTransformer(image_size 32, patch 8, 2 layers, 2 heads, hidden 64, mlp 128)
  bert_tiny      HF BertModel(hidden 128, 2 layers, 2 heads, intermediate 512, vocab 1000), seq 16
  gpt2_tiny      HF GPT2Model(n_embd 128, 2 layers, 2 heads, vocab 1000), seq 16, use_cache=False

Each is exported with both exporters (torchscript = torch.onnx.export(dynamo=False), dynamo = dynamo=True);
dynamo exports are repaired to opset 17 where torch leaves them at 18 or invalid (export-models.py's
fix_dynamo_opset; --raw-dynamo keeps them as exported).
For each <model> = <name>.<exporter> this writes:
  <model>.onnx          the graph; every FLOAT initializer larger than 1 KiB is stored as ONNX external
                        data (data_location=EXTERNAL, location=<model>.weights, offset, length);
                        integer and small initializers stay inline. Node metadata_props/doc_strings
                        (dynamo's stack traces with local paths) are stripped.
  <model>.weights.json  manifest of the external tensors in file order: name, dtype, dims, offset,
                        length and mean/std/min/max of the original values. The .weights file itself is
                        NOT written: test/helpers/fixture-models.ts regenerates it deterministically.
  <model>.inputs.json   input names/dtypes/dims (+ vocab for token ids, fill for masks/token types).
and index.json listing every fixture with its exporter, opset and IR version (and any export failure).

Also writes examples/tiny-cnn.onnx (fully inline, TorchScript exporter, BatchNormalization kept as a
node via training=TrainingMode.PRESERVE) and examples/tiny-cnn.inputs.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("export_models", HERE / "export-models.py")
em = importlib.util.module_from_spec(_spec)
sys.modules["export_models"] = em
_spec.loader.exec_module(em)  # also defines the torchvision::nms/qnms placeholders and imports torchvision

from torchvision.models.vision_transformer import VisionTransformer  # noqa: E402

FIXTURES = ["resnet18", "mobilenet_v2", "vit_tiny", "bert_tiny", "gpt2_tiny"]
EXTERNAL_THRESHOLD = 1024  # bytes
ALIGN = 64  # byte alignment of every tensor in the weights file


def build_fixture(name: str) -> em.ModelSpec:
    torch.manual_seed(em.SEED)
    tvm = em.tvm
    if name == "resnet18":
        return em.image_spec(name, tvm.resnet18(weights=None), 1, 64)
    if name == "mobilenet_v2":
        return em.image_spec(name, tvm.mobilenet_v2(weights=None), 1, 64)
    if name == "vit_tiny":
        vit = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=64, mlp_dim=128)
        return em.image_spec(name, vit, 1, 32)
    if name == "bert_tiny":
        from transformers import BertConfig

        cfg = BertConfig(
            hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512, vocab_size=1000
        )
        return em.bert_spec(name, cfg, 1, 16, "sdpa")
    if name == "gpt2_tiny":
        from transformers import GPT2Config

        cfg = GPT2Config(n_embd=128, n_layer=2, n_head=2, vocab_size=1000, bos_token_id=999, eos_token_id=999)
        return em.gpt2_spec(name, cfg, 1, 16, "sdpa")
    raise SystemExit(f"unknown fixture {name!r}; known: {', '.join(FIXTURES)}")


def strip_metadata(model: onnx.ModelProto) -> None:
    def walk(g):
        for n in g.node:
            del n.metadata_props[:]
            n.doc_string = ""
            for a in n.attribute:
                if a.HasField("g"):
                    walk(a.g)
                for gg in a.graphs:
                    walk(gg)
        g.doc_string = ""

    walk(model.graph)
    for f in model.functions:
        for n in f.node:
            del n.metadata_props[:]
            n.doc_string = ""
    model.doc_string = ""


def externalize(model: onnx.ModelProto, weights_name: str) -> dict:
    """Moves FLOAT initializers > EXTERNAL_THRESHOLD bytes to external data; returns the manifest."""
    tensors = []
    offset = 0
    for t in model.graph.initializer:
        if t.data_type != onnx.TensorProto.FLOAT or t.data_location == onnx.TensorProto.EXTERNAL:
            continue
        arr = numpy_helper.to_array(t).astype(np.float32)
        length = arr.size * 4
        if length <= EXTERNAL_THRESHOLD:
            continue
        offset = (offset + ALIGN - 1) // ALIGN * ALIGN
        a64 = arr.astype(np.float64)
        tensors.append(
            {
                "name": t.name,
                "dtype": "float32",
                "dims": [int(d) for d in t.dims],
                "offset": offset,
                "length": length,
                "mean": float(a64.mean()),
                "std": float(a64.std()),
                "min": float(a64.min()),
                "max": float(a64.max()),
            }
        )
        t.ClearField("raw_data")
        t.ClearField("float_data")
        t.data_location = onnx.TensorProto.EXTERNAL
        del t.external_data[:]
        for k, v in (("location", weights_name), ("offset", str(offset)), ("length", str(length))):
            e = t.external_data.add()
            e.key = k
            e.value = v
        offset += length
    return {"weights": weights_name, "total_bytes": offset, "align": ALIGN, "tensors": tensors}


def large_constant_nodes(model: onnx.ModelProto) -> list[str]:
    out = []
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value" and len(a.t.raw_data) > EXTERNAL_THRESHOLD:
                    out.append(f"{n.output[0]} ({len(a.t.raw_data)} bytes)")
    return out


def make_fixture(name: str, exporter: str, out: Path, opset: int, fix_opset: bool = True) -> dict:
    spec = build_fixture(name)
    key = f"{name}.{exporter}"
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td) / f"{key}.onnx"
        t0 = time.perf_counter()
        notes = em.export_onnx(spec, tmp, exporter, opset, dynamic=False, fix_opset=fix_opset)
        export_s = time.perf_counter() - t0
        check = em.check_with_ort(tmp, spec)  # original weights vs torch
        model = onnx.load(str(tmp))
    strip_metadata(model)
    big_consts = large_constant_nodes(model)
    manifest = externalize(model, f"{key}.weights")
    manifest = {"model": f"{key}.onnx", **manifest}
    onnx_path = out / f"{key}.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    (out / f"{key}.weights.json").write_text(json.dumps(manifest, indent=1) + "\n")
    inputs_doc = em.write_inputs_json(out / f"{key}.inputs.json", onnx_path, spec, False)
    facts = em.model_facts(onnx_path)
    return {
        "name": key,
        "family": name,
        "exporter": exporter,
        "ok": True,
        "ir_version": facts["ir_version"],
        "opsets": facts["opsets"],
        "nodes": facts["nodes"],
        "onnx_bytes": onnx_path.stat().st_size,
        "weights_bytes": manifest["total_bytes"],
        "external_tensors": len(manifest["tensors"]),
        "inputs": [i["name"] for i in inputs_doc["inputs"]],
        "outputs": [{"name": o["name"], "dims": o["dims"]} for o in inputs_doc["outputs"]],
        "torch_vs_ort_max_abs_diff": check.get("max_abs_diff_vs_torch"),
        "large_constant_nodes": big_consts,
        "opset_fix": notes,
        "_export_s": export_s,  # printed, not written (index.json stays byte-for-byte reproducible)
    }


class TinyCNN(torch.nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        nn = torch.nn

        def block(cin, cout, pool):
            layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            layers.append(nn.MaxPool2d(2) if pool else nn.AdaptiveAvgPool2d(1))
            return layers

        self.features = nn.Sequential(*block(3, 16, True), *block(16, 32, True), *block(32, 64, False))
        self.head = nn.Linear(64, classes)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


def make_tiny_cnn(examples: Path) -> dict:
    torch.manual_seed(em.SEED)
    spec = em.image_spec("tiny-cnn", TinyCNN(), 1, 32)
    examples.mkdir(parents=True, exist_ok=True)
    path = examples / "tiny-cnn.onnx"
    torch.onnx.export(
        spec.module,
        (spec.inputs[0][1],),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["logits"],
        # PRESERVE (model is in eval mode) skips the eval peephole that folds BatchNorm into Conv,
        # so the example keeps real BatchNormalization nodes (inference mode).
        training=torch.onnx.TrainingMode.PRESERVE,
    )
    model = onnx.load(str(path))
    strip_metadata(model)
    path.write_bytes(model.SerializeToString())
    em.write_inputs_json(examples / "tiny-cnn.inputs.json", path, spec, False)
    check = em.check_with_ort(path, spec)
    facts = em.model_facts(path)
    return {"bytes": path.stat().st_size, "histogram": facts["histogram"], "check": check}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = HERE.parent
    ap.add_argument("--out", default=str(root / "test" / "fixtures" / "models"))
    ap.add_argument("--examples", default=str(root / "examples"))
    ap.add_argument("--models", default=",".join(FIXTURES))
    ap.add_argument("--exporter", default="both", choices=["torchscript", "dynamo", "both"])
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--no-example", action="store_true")
    ap.add_argument("--raw-dynamo", action="store_true", help="no dynamo opset repair (see export-models.py)")
    a = ap.parse_args()
    torch.set_num_threads(1)

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"fixtures": []}
    by_name = {f["name"]: f for f in index["fixtures"]}
    exporters = em.EXPORTERS if a.exporter == "both" else [a.exporter]
    failures = 0
    for name in [m.strip() for m in a.models.split(",") if m.strip()]:
        for exp in exporters:
            key = f"{name}.{exp}"
            try:
                entry = make_fixture(name, exp, out, a.opset, fix_opset=not a.raw_dynamo)
                print(
                    f"[{key}] ok: opsets={entry['opsets']} ir={entry['ir_version']} nodes={entry['nodes']} "
                    f"onnx={entry['onnx_bytes']}B weights={entry['weights_bytes']}B "
                    f"ext={entry['external_tensors']} diff={entry['torch_vs_ort_max_abs_diff']:.2e} "
                    f"export={entry.pop('_export_s'):.1f}s"
                    + (f" fix={entry['opset_fix']}" if entry["opset_fix"] else "")
                    + (f" LARGE CONSTANTS: {entry['large_constant_nodes']}" if entry["large_constant_nodes"] else ""),
                    flush=True,
                )
            except Exception as e:
                failures += 1
                traceback.print_exc()
                entry = {"name": key, "family": name, "exporter": exp, "ok": False, "error": f"{type(e).__name__}: {e}"[:1000]}
                for suffix in (".onnx", ".weights.json", ".inputs.json"):
                    (out / f"{key}{suffix}").unlink(missing_ok=True)
                print(f"[{key}] FAILED: {entry['error'][:300]}", flush=True)
            by_name[key] = entry
            index["fixtures"] = sorted(by_name.values(), key=lambda f: f["name"])
            index_path.write_text(json.dumps(index, indent=1) + "\n")

    if not a.no_example:
        info = make_tiny_cnn(Path(a.examples))
        print(f"[tiny-cnn] {info['bytes']}B ops={info['histogram']} check={info['check']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
