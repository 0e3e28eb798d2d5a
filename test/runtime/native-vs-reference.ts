// Runs a model compiled for the cpu target on the native executor and the same graph on the
// reference interpreter, and compares every output (dtype, dims and values).

import { expect } from 'vitest';
import { interpret } from '../../compiler/interpreter/interpret.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import { Session, Tensor, type TensorDType } from '../../runtime/index.js';
import { compileBytes } from './helpers.js';

export interface Feed {
  dtype: TensorDType;
  dims: number[];
  values: number[];
}

function runtimeTensor(f: Feed): Tensor {
  const t = TensorData.fromValues(f.dtype, f.dims, f.values);
  const bytes = new Uint8Array(t.bytes).buffer;
  const arrays: Partial<Record<TensorDType, (b: ArrayBuffer) => unknown>> = {
    f32: (b) => new Float32Array(b), f64: (b) => new Float64Array(b), f16: (b) => new Uint16Array(b), bf16: (b) => new Uint16Array(b),
    i64: (b) => new BigInt64Array(b), i32: (b) => new Int32Array(b), u8: (b) => new Uint8Array(b), i8: (b) => new Int8Array(b), bool: (b) => new Uint8Array(b),
  };
  return new Tensor(f.dtype, arrays[f.dtype]!(bytes) as never, f.dims);
}

/** Compiles `onnx` for cpu, runs it natively and on the interpreter, and expects equal outputs (within rtol). */
export async function expectNativeMatchesReference(onnx: Uint8Array, feeds: Record<string, Feed>, rtol = 1e-5): Promise<Record<string, Tensor>> {
  const { artifact, result } = compileBytes(onnx);
  const reference = interpret(result.graph, new Map(Object.entries(feeds).map(([k, f]) => [k, TensorData.fromValues(f.dtype, f.dims, f.values)])));
  const session = await Session.load(artifact, { threads: 2 });
  try {
    const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, runtimeTensor(f)])));
    for (const [name, expected] of reference) {
      const actual = out[name];
      expect(actual, name).toBeDefined();
      expect(actual!.dtype, name).toBe(expected.dtype);
      expect([...actual!.dims], name).toEqual([...expected.dims]);
      const got = TensorData.fromBytes(expected.dtype, actual!.dims, new Uint8Array(actual!.data.buffer, actual!.data.byteOffset, actual!.data.byteLength)).values;
      for (let i = 0; i < expected.values.length; i++) {
        const e = expected.values[i]!;
        if (Number.isNaN(e)) expect(Number.isNaN(got[i]!), `${name}[${i}]`).toBe(true);
        else expect(Math.abs(got[i]! - e), `${name}[${i}]: got ${got[i]}, expected ${e}`).toBeLessThanOrEqual(1e-6 + rtol * Math.abs(e));
      }
    }
    return out;
  } finally {
    session.dispose();
  }
}
