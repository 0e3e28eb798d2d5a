#!/usr/bin/env python3
"""Writes the ONNX backend node tests to disk in the onnx_test_runner layout.

onnx 1.23 builds its node conformance cases in memory (onnx.backend.test.loader); this script
serializes each as DIR/<case>/model.onnx and DIR/<case>/test_data_set_<k>/{input,output}_<i>.pb,
the layout scripts/conformance.ts reads. Needs numpy and onnx==1.23.1.

Usage: python3 scripts/make-onnx-node-tests.py -o build/onnx-node-tests/node
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.loader import load_model_tests


def to_proto(value, name):
    """A TensorProto, SequenceProto or OptionalProto for one input or output value."""
    if isinstance(value, np.ndarray) and value.dtype == object and value.size > 0 and isinstance(value.flat[0], onnx.TensorProto):
        value = value.flat[0]
    if isinstance(value, (onnx.TensorProto, onnx.SequenceProto, onnx.OptionalProto)):
        proto = type(value)()
        proto.CopyFrom(value)
        proto.name = name
        return proto
    if isinstance(value, list):
        return numpy_helper.from_list(value, name)
    if value is None or isinstance(value, dict):
        return numpy_helper.from_optional(value, name)
    return numpy_helper.from_array(np.asarray(value), name)


def write_case(case, out_dir):
    case_dir = os.path.join(out_dir, case.name)
    os.makedirs(case_dir, exist_ok=True)
    model = case.model
    onnx.save(model, os.path.join(case_dir, "model.onnx"))
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    for k, (ins, outs) in enumerate(case.data_sets or []):
        set_dir = os.path.join(case_dir, f"test_data_set_{k}")
        os.makedirs(set_dir, exist_ok=True)
        for kind, values, names in (("input", ins, inputs), ("output", outs, outputs)):
            for i, v in enumerate(values):
                proto = to_proto(v, names[i] if i < len(names) else f"{kind}_{i}")
                with open(os.path.join(set_dir, f"{kind}_{i}.pb"), "wb") as f:
                    f.write(proto.SerializeToString())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", required=True, help="output folder (created)")
    args = parser.parse_args()
    if onnx.__version__ != "1.23.1":
        print(f"warning: onnx {onnx.__version__}; the recorded conformance floor is for 1.23.1", file=sys.stderr)
    cases = load_model_tests(kind="node")
    written = 0
    for case in cases:
        if case.model is None:
            continue
        write_case(case, args.out)
        written += 1
    print(f"wrote {written} node test cases to {args.out}")


if __name__ == "__main__":
    main()
