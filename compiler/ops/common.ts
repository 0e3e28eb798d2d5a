// Building blocks shared by op definitions: broadcasting, axis normalization, strides, and helpers
// that define whole groups of ops (unary and binary elementwise) from a scalar function.

import type { DType } from '../ir/dtype.js';
import { isFloat } from '../ir/dtype.js';
import { Attrs } from '../ir/graph.js';
import { defineOp, OpError, type FusionClass, type InferContext, type OnnxLowering, type OpDef } from '../ir/ops.js';
import { TensorData, elementCount } from '../ir/tensor.js';
import type { Dim, TensorType } from '../ir/types.js';

export { OpError };

/** Numpy-style broadcast of several shapes. Symbolic dims broadcast against 1 and equal symbols. */
export function broadcastShapes(shapes: readonly (readonly Dim[])[]): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    let dim: Dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + k];
      if (d === undefined || d === 1) continue;
      if (dim === 1) dim = d;
      else if (d !== dim) {
        if (typeof d === 'number' && typeof dim === 'number') {
          throw new OpError(`shapes ${shapes.map((x) => `[${x.join(',')}]`).join(' and ')} do not broadcast`);
        }
        // A symbol against a size: the symbol must equal it at run time; keep the static size.
        if (typeof d === 'number') dim = d;
      }
    }
    out.push(dim);
  }
  return out;
}

export function normalizeAxis(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank || !Number.isInteger(a)) throw new OpError(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i]!;
  }
  return s;
}

/**
 * For each output index of a broadcast to `outDims`, the flat index into a tensor of `inDims`.
 * Returned as an Int32Array/Float64Array of length elementCount(outDims).
 */
export function broadcastIndex(inDims: readonly number[], outDims: readonly number[]): Float64Array {
  const n = elementCount(outDims);
  const idx = new Float64Array(n);
  const rank = outDims.length;
  const off = rank - inDims.length;
  const inStrides = stridesOf(inDims);
  // Effective stride per output axis (0 where the input broadcasts).
  const eff = outDims.map((_, k) => (k < off || inDims[k - off] === 1 ? 0 : inStrides[k - off]!));
  const counter = new Array<number>(rank).fill(0);
  let cur = 0;
  for (let i = 0; i < n; i++) {
    idx[i] = cur;
    for (let k = rank - 1; k >= 0; k--) {
      counter[k]! += 1;
      cur += eff[k]!;
      if (counter[k]! < outDims[k]!) break;
      cur -= eff[k]! * outDims[k]!;
      counter[k] = 0;
    }
  }
  return idx;
}

/** Static dims of a concrete tensor type, for reference implementations. */
export function dimsOf(t: TensorData): number[] {
  return [...t.dims];
}

export function requireInput(inputs: readonly (TensorData | undefined)[], i: number, op: string): TensorData {
  const t = inputs[i];
  if (!t) throw new OpError(`${op}: input ${i} is required`);
  return t;
}

export interface UnaryOpOptions {
  /** Allowed input dtypes (default: any). */
  dtypes?: (d: DType) => boolean;
  /** Output dtype, when it differs from the input's. */
  outDtype?: DType;
  onnxSince?: number;
  onnxLower?: OnnxLowering;
  fusionClass?: FusionClass;
}

/** Defines an elementwise op y = f(x, attrs) computed in float64 and rounded to the output dtype. */
export function defineUnary(
  name: string,
  f: (x: number, attrs: Attrs, dtype: DType) => number,
  options: UnaryOpOptions = {},
): OpDef {
  const out = (d: DType) => options.outDtype ?? d;
  return defineOp({
    name,
    fusionClass: options.fusionClass ?? 'elementwise',
    inputs: [1, 1],
    outputs: [1, 1],
    onnxSince: options.onnxSince,
    onnxLower: options.onnxLower,
    infer(ctx) {
      const x = ctx.input(0);
      if (options.dtypes && !options.dtypes(x.dtype)) throw new OpError(`${name} does not accept ${x.dtype} inputs`);
      return [{ dtype: out(x.dtype), shape: x.shape }];
    },
    evaluate([x], attrs) {
      const t = requireInput([x], 0, name);
      const v = t.values;
      const r = new Float64Array(v.length);
      for (let i = 0; i < v.length; i++) r[i] = f(v[i]!, attrs, t.dtype);
      return [TensorData.fromValues(out(t.dtype), t.dims, r)];
    },
  });
}

export interface BinaryOpOptions {
  dtypes?: (d: DType) => boolean;
  outDtype?: DType;
  onnxSince?: number;
  onnxLower?: OnnxLowering;
}

/** Defines a broadcasting binary op z = f(x, y) computed in float64. */
export function defineBinary(
  name: string,
  f: (x: number, y: number, attrs: Attrs, dtype: DType) => number,
  options: BinaryOpOptions = {},
): OpDef {
  return defineOp({
    name,
    fusionClass: 'broadcast',
    inputs: [2, 2],
    outputs: [1, 1],
    onnxSince: options.onnxSince,
    onnxLower: options.onnxLower,
    infer(ctx) {
      const a = ctx.input(0);
      const b = ctx.input(1);
      if (a.dtype !== b.dtype) throw new OpError(`${name} inputs have different dtypes ${a.dtype} and ${b.dtype}`);
      if (options.dtypes && !options.dtypes(a.dtype)) throw new OpError(`${name} does not accept ${a.dtype} inputs`);
      return [{ dtype: options.outDtype ?? a.dtype, shape: broadcastShapes([a.shape, b.shape]) }];
    },
    evaluate(inputs, attrs) {
      const a = requireInput(inputs, 0, name);
      const b = requireInput(inputs, 1, name);
      return [broadcastMap([a, b], options.outDtype ?? a.dtype, (x) => f(x[0]!, x[1]!, attrs, a.dtype))];
    },
  });
}

/** Applies f elementwise over broadcast inputs. `args` is reused between calls. */
export function broadcastMap(inputs: readonly TensorData[], outDtype: DType, f: (args: number[]) => number): TensorData {
  const outDims = broadcastShapes(inputs.map((t) => t.dims)) as number[];
  const n = elementCount(outDims);
  const idx = inputs.map((t) => (sameDims(t.dims, outDims) ? undefined : broadcastIndex(t.dims, outDims)));
  const vals = inputs.map((t) => t.values);
  const out = new Float64Array(n);
  const args = new Array<number>(inputs.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < inputs.length; k++) args[k] = vals[k]![idx[k] ? idx[k]![i]! : i]!;
    out[i] = f(args);
  }
  return TensorData.fromValues(outDtype, outDims, out);
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Requires every dim of a type to be static (for rules that cannot handle symbols). */
export function staticDims(t: TensorType, what: string): number[] {
  if (!t.shape.every((d) => typeof d === 'number')) throw new OpError(`${what} needs a static shape, got [${t.shape.join(',')}]`);
  return t.shape as number[];
}

/** Integer contents of a constant input, or undefined. */
export function constInts(ctx: InferContext, i: number): number[] | undefined {
  const c = ctx.constant(i);
  return c ? c.toArray() : undefined;
}

export const anyFloat = (d: DType) => isFloat(d);
export const anyNumeric = (d: DType) => d !== 'bool';

/** Lowering that moves listed ONNX attributes (older opsets) into trailing i64 constant inputs. */
export function attrsToInputs(untilOpset: number, names: readonly string[]): OnnxLowering {
  return (ctx) => {
    if (ctx.opset >= untilOpset) {
      ctx.setOutputs(ctx.emit(ctx.opType, [...ctx.inputs], ctx.attrs, ctx.outputCount));
      return;
    }
    const inputs = [...ctx.inputs];
    let attrs = ctx.attrs;
    names.forEach((n, k) => {
      const a = attrs.get(n);
      const slot = 1 + k;
      while (inputs.length < slot) inputs.push(null);
      if (a && (a.kind === 'ints' || a.kind === 'int')) {
        const vals = a.kind === 'int' ? [a.value] : a.value;
        inputs[slot] = ctx.constant(TensorData.fromValues('i64', [vals.length], vals));
      } else if (a && (a.kind === 'floats' || a.kind === 'float')) {
        const vals = a.kind === 'float' ? [a.value] : a.value;
        inputs[slot] = ctx.constant(TensorData.fromValues('f32', [vals.length], vals));
      }
      attrs = attrs.with(n, undefined);
    });
    while (inputs.length > 0 && inputs[inputs.length - 1] === null) inputs.pop();
    ctx.setOutputs(ctx.emit(ctx.opType, inputs, attrs, ctx.outputCount));
  };
}

export { Attrs, TensorData, elementCount };
