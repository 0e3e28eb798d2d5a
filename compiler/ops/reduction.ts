// Reductions along axes (ReduceSum and friends, ArgMax/ArgMin), the softmax family and CumSum.
// Older ONNX forms are lowered here: reduce axes given as attributes become constant inputs, and the
// pre-13 softmax family (which coerces its input to 2-D at `axis`) becomes Flatten, op, Reshape.

import type { DType } from '../ir/dtype.js';
import { isFloat } from '../ir/dtype.js';
import { defineOp, type InferContext, type LowerContext } from '../ir/ops.js';
import type { Dim, TensorType } from '../ir/types.js';
import { isStaticShape } from '../ir/types.js';
import {
  Attrs, OpError, TensorData, attrsToInputs, elementCount, normalizeAxis, requireInput, stridesOf,
} from './common.js';

// ---------------------------------------------------------------------------------------------
// Axis bookkeeping shared with normalization ops

/** Normalized, duplicate-free axes; throws naming the axes when one is out of range or repeated. */
export function normalizeAxes(axes: readonly number[], rank: number, what = 'axes'): number[] {
  const r = axes.map((a) => normalizeAxis(a, rank, what));
  if (new Set(r).size !== r.length) throw new OpError(`${what} [${axes.join(',')}] has duplicates`);
  return r;
}

/**
 * For each input element (in row-major order), the flat index of the output element it reduces into
 * when the axes in `reduced` are collapsed.
 */
export function reduceIndex(dims: readonly number[], reduced: readonly boolean[]): Int32Array {
  const outDims = dims.map((d, k) => (reduced[k] ? 1 : d));
  const os = stridesOf(outDims);
  const eff = dims.map((_, k) => (reduced[k] ? 0 : os[k]!));
  const n = elementCount(dims);
  const idx = new Int32Array(n);
  const rank = dims.length;
  const ctr = new Array<number>(rank).fill(0);
  let cur = 0;
  for (let i = 0; i < n; i++) {
    idx[i] = cur;
    for (let k = rank - 1; k >= 0; k--) {
      ctr[k]! += 1;
      cur += eff[k]!;
      if (ctr[k]! < dims[k]!) break;
      cur -= eff[k]! * dims[k]!;
      ctr[k] = 0;
    }
  }
  return idx;
}

/** Smallest and largest values a dtype holds: the identities of max and min over an empty set. */
function extremes(dtype: DType): [number, number] {
  switch (dtype) {
    case 'bool': return [0, 1];
    case 'u8': return [0, 255];
    case 'u16': return [0, 65535];
    case 'u32': return [0, 2 ** 32 - 1];
    case 'u64': return [0, 2 ** 64 - 1];
    case 'i8': return [-128, 127];
    case 'i16': return [-32768, 32767];
    case 'i32': return [-(2 ** 31), 2 ** 31 - 1];
    case 'i64': return [-(2 ** 63), 2 ** 63 - 1];
    default: return [-Infinity, Infinity];
  }
}

// ---------------------------------------------------------------------------------------------
// ReduceXxx

type ReduceKind = 'Sum' | 'Mean' | 'Max' | 'Min' | 'Prod' | 'L1' | 'L2' | 'LogSum' | 'LogSumExp' | 'SumSquare';

/** Reduced axes from the axes input, or undefined when they are not known at compile time. */
function reducedAxes(axes: readonly Dim[] | undefined, present: boolean, rank: number, noop: boolean): boolean[] | undefined | 'noop' {
  if (present && axes === undefined) return undefined;
  const list = axes ?? [];
  if (list.length === 0) return noop ? 'noop' : new Array<boolean>(rank).fill(true);
  if (list.some((a) => typeof a !== 'number')) return undefined;
  const mask = new Array<boolean>(rank).fill(false);
  for (const a of normalizeAxes(list as number[], rank)) mask[a] = true;
  return mask;
}

function defineReduce(kind: ReduceKind, axesInputSince: number): void {
  const name = `Reduce${kind}`;
  const isMinMax = kind === 'Max' || kind === 'Min';
  defineOp({
    name,
    fusionClass: 'reduction',
    inputs: [1, 2],
    outputs: [1, 1],
    onnxLower: attrsToInputs(axesInputSince, ['axes']),
    infer(ctx) {
      const x = ctx.input(0);
      if (x.dtype === 'bool' && !isMinMax) throw new OpError(`${name} does not accept bool inputs`);
      const keep = ctx.attrs.int('keepdims', 1) !== 0;
      const axesType = ctx.optionalInput(1);
      if (axesType && axesType.shape.length !== 1) throw new OpError(`${name} input 'axes' must be 1-D, got [${axesType.shape}]`);
      const mask = reducedAxes(ctx.shapeValue(1), axesType !== undefined, x.shape.length, ctx.attrs.int('noop_with_empty_axes', 0) !== 0);
      if (mask === 'noop') return [x];
      if (mask === undefined) {
        // Axes known only at run time: the rank still follows from how many there are.
        if (keep) return [{ dtype: x.dtype, shape: x.shape.map((d) => (d === 1 ? 1 : ctx.freshDim('r'))) }];
        const k = axesType!.shape[0];
        if (typeof k !== 'number') throw new OpError(`${name} with keepdims=0 needs the number of axes known at compile time`);
        if (k > x.shape.length) throw new OpError(`${name} has ${k} axes for an input of rank ${x.shape.length}`);
        return [{ dtype: x.dtype, shape: Array.from({ length: x.shape.length - k }, () => ctx.freshDim('r')) }];
      }
      const shape: Dim[] = [];
      x.shape.forEach((d, k) => {
        if (!mask[k]) shape.push(d);
        else if (keep) shape.push(1);
      });
      return [{ dtype: x.dtype, shape }];
    },
    evaluate(inputs, attrs) {
      const x = requireInput(inputs, 0, name);
      const keep = attrs.int('keepdims', 1) !== 0;
      const mask = reducedAxes(inputs[1]?.toArray(), false, x.rank, attrs.int('noop_with_empty_axes', 0) !== 0);
      if (mask === 'noop') return [x];
      const m = mask!;
      const outDims = x.dims.map((d, k) => (m[k] ? 1 : d));
      const finalDims = keep ? outDims : x.dims.filter((_, k) => !m[k]);
      const nOut = elementCount(outDims);
      const count = elementCount(x.dims.filter((_, k) => m[k]));
      const out = reduceValues(kind, x, m, nOut, count);
      return [TensorData.fromValues(x.dtype, finalDims, out)];
    },
  });
}

function reduceValues(kind: ReduceKind, x: TensorData, mask: boolean[], nOut: number, count: number): Float64Array {
  const v = x.values;
  const idx = reduceIndex(x.dims, mask);
  const n = v.length;
  const out = new Float64Array(nOut);
  switch (kind) {
    case 'Max': case 'Min': {
      const [lo, hi] = extremes(x.dtype);
      const isMax = kind === 'Max';
      out.fill(isMax ? lo : hi);
      for (let i = 0; i < n; i++) {
        const o = idx[i]!;
        const a = v[i]!;
        if (a !== a) out[o] = NaN;
        else if (isMax ? a > out[o]! : a < out[o]!) out[o] = a;
      }
      return out;
    }
    case 'Prod':
      out.fill(1);
      for (let i = 0; i < n; i++) out[idx[i]!] *= v[i]!;
      return out;
    case 'LogSumExp': {
      const mx = new Float64Array(nOut).fill(-Infinity);
      for (let i = 0; i < n; i++) if (v[i]! > mx[idx[i]!]!) mx[idx[i]!] = v[i]!;
      for (let i = 0; i < n; i++) {
        const o = idx[i]!;
        out[o] += Math.exp(v[i]! - (Number.isFinite(mx[o]!) ? mx[o]! : 0));
      }
      for (let o = 0; o < nOut; o++) out[o] = Math.log(out[o]!) + (Number.isFinite(mx[o]!) ? mx[o]! : 0);
      return out;
    }
    default: {
      const f = kind === 'L1' ? Math.abs : kind === 'L2' || kind === 'SumSquare' ? (a: number) => a * a : undefined;
      if (f) for (let i = 0; i < n; i++) out[idx[i]!] += f(v[i]!);
      else for (let i = 0; i < n; i++) out[idx[i]!] += v[i]!;
      if (kind === 'Mean') for (let o = 0; o < nOut; o++) out[o] /= count;
      else if (kind === 'L2') for (let o = 0; o < nOut; o++) out[o] = Math.sqrt(out[o]!);
      else if (kind === 'LogSum') for (let o = 0; o < nOut; o++) out[o] = Math.log(out[o]!);
      return out;
    }
  }
}

defineReduce('Sum', 13);
for (const kind of ['Mean', 'Max', 'Min', 'Prod', 'L1', 'L2', 'LogSum', 'LogSumExp', 'SumSquare'] as const) defineReduce(kind, 18);

// ---------------------------------------------------------------------------------------------
// ArgMax / ArgMin

/** Splits dims around `axis` into (outer, n, inner) extents for loops along one axis. */
export function splitAt(dims: readonly number[], axis: number): [number, number, number] {
  return [elementCount(dims.slice(0, axis)), dims[axis]!, elementCount(dims.slice(axis + 1))];
}

for (const name of ['ArgMax', 'ArgMin'] as const) {
  const isMax = name === 'ArgMax';
  defineOp({
    name,
    fusionClass: 'reduction',
    inputs: [1, 1],
    outputs: [1, 1],
    infer(ctx) {
      const x = ctx.input(0);
      const axis = normalizeAxis(ctx.attrs.int('axis', 0), x.shape.length);
      const keep = ctx.attrs.int('keepdims', 1) !== 0;
      const shape = keep ? x.shape.map((d, k) => (k === axis ? 1 : d)) : x.shape.filter((_, k) => k !== axis);
      return [{ dtype: 'i64', shape }];
    },
    evaluate(inputs, attrs) {
      const x = requireInput(inputs, 0, name);
      const axis = normalizeAxis(attrs.int('axis', 0), x.rank);
      const last = attrs.int('select_last_index', 0) !== 0;
      const [outer, n, inner] = splitAt(x.dims, axis);
      if (n === 0) throw new OpError(`${name} over axis ${axis} of size 0`);
      const v = x.values;
      const out = new Float64Array(outer * inner);
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < inner; j++) {
          const base = o * n * inner + j;
          let best = v[base]!;
          let at = 0;
          for (let k = 1; k < n; k++) {
            const a = v[base + k * inner]!;
            const better = isMax ? a > best || (last && a === best) : a < best || (last && a === best);
            if (better) { best = a; at = k; }
          }
          out[o * inner + j] = at;
        }
      }
      const keep = attrs.int('keepdims', 1) !== 0;
      const dims = keep ? x.dims.map((d, k) => (k === axis ? 1 : d)) : x.dims.filter((_, k) => k !== axis);
      return [TensorData.fromValues('i64', dims, out)];
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Softmax, LogSoftmax, Hardmax

/**
 * Opsets before 13 view the input as 2-D [prod(dims[:axis]), prod(dims[axis:])] and apply the op over
 * the second dim. That equals the axis form when axis is the last dim; otherwise flatten around the
 * op and restore the shape.
 */
function lowerCoerced2D(ctx: LowerContext): void {
  if (ctx.opset >= 13) {
    ctx.setOutputs(ctx.emit(ctx.opType, [...ctx.inputs], ctx.attrs, 1));
    return;
  }
  const x = ctx.inputs[0];
  if (!x) throw new OpError(`${ctx.opType} input 0 is required`);
  const rank = x.type.shape.length;
  const axis = normalizeAxis(ctx.attrs.int('axis', 1), Math.max(rank, 1));
  if (axis >= rank - 1) {
    ctx.setOutputs(ctx.emit(ctx.opType, [x], new Attrs([['axis', { kind: 'int', value: -1 }]]), 1));
    return;
  }
  const flat = ctx.emit('Flatten', [x], new Attrs([['axis', { kind: 'int', value: axis }]]))[0]!;
  const y = ctx.emit(ctx.opType, [flat], new Attrs([['axis', { kind: 'int', value: -1 }]]))[0]!;
  const shape = isStaticShape(x.type.shape)
    ? ctx.constant(TensorData.fromValues('i64', [rank], x.type.shape))
    : ctx.emit('Shape', [x])[0]!;
  ctx.setOutputs(ctx.emit('Reshape', [y, shape]));
}

for (const name of ['Softmax', 'LogSoftmax', 'Hardmax'] as const) {
  defineOp({
    name,
    fusionClass: 'reduction',
    inputs: [1, 1],
    outputs: [1, 1],
    onnxLower: lowerCoerced2D,
    infer(ctx) {
      const x = ctx.input(0);
      if (!isFloat(x.dtype)) throw new OpError(`${name} needs a float input, got ${x.dtype}`);
      normalizeAxis(ctx.attrs.int('axis', -1), x.shape.length);
      return [x];
    },
    evaluate(inputs, attrs) {
      const x = requireInput(inputs, 0, name);
      const [outer, n, inner] = splitAt(x.dims, normalizeAxis(attrs.int('axis', -1), x.rank));
      const v = x.values;
      const out = new Float64Array(v.length);
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < inner; j++) {
          const base = o * n * inner + j;
          let mx = -Infinity;
          let at = 0;
          for (let k = 0; k < n; k++) {
            const a = v[base + k * inner]!;
            if (a > mx) { mx = a; at = k; }
          }
          if (name === 'Hardmax') {
            out[base + at * inner] = 1;
            continue;
          }
          let sum = 0;
          for (let k = 0; k < n; k++) {
            const e = Math.exp(v[base + k * inner]! - mx);
            if (name === 'Softmax') out[base + k * inner] = e;
            sum += e;
          }
          if (name === 'Softmax') for (let k = 0; k < n; k++) out[base + k * inner] /= sum;
          else {
            const lse = mx + Math.log(sum);
            for (let k = 0; k < n; k++) out[base + k * inner] = v[base + k * inner]! - lse;
          }
        }
      }
      return [TensorData.fromValues(x.dtype, x.dims, out)];
    },
  });
}

// ---------------------------------------------------------------------------------------------
// CumSum

function scanAxis(op: string, ctx: InferContext, x: TensorType): void {
  const a = ctx.input(1);
  if (a.shape.length > 1 || (a.shape.length === 1 && a.shape[0] !== 1)) throw new OpError(`${op} input 'axis' must be a scalar, got [${a.shape}]`);
  if (a.dtype !== 'i32' && a.dtype !== 'i64') throw new OpError(`${op} input 'axis' must be i32 or i64, got ${a.dtype}`);
  const v = ctx.shapeValue(1);
  if (v && typeof v[0] === 'number') normalizeAxis(v[0], x.shape.length);
}

/**
 * Defines a running reduction along the axis given by input 1 (CumSum, CumProd): `identity` starts
 * each scan; exclusive scans write the combination of the elements before each one.
 */
export function defineScan(name: string, identity: number, combine: (acc: number, v: number) => number, onnxSince: number): void {
  defineOp({
    name,
    fusionClass: 'reduction',
    inputs: [2, 2],
    outputs: [1, 1],
    onnxSince,
    infer(ctx) {
      const x = ctx.input(0);
      if (x.dtype === 'bool') throw new OpError(`${name} does not accept bool inputs`);
      scanAxis(name, ctx, x);
      return [x];
    },
    evaluate(inputs, attrs) {
      const x = requireInput(inputs, 0, name);
      const axis = normalizeAxis(requireInput(inputs, 1, name).values[0]!, x.rank);
      const exclusive = attrs.int('exclusive', 0) !== 0;
      const reverse = attrs.int('reverse', 0) !== 0;
      const [outer, n, inner] = splitAt(x.dims, axis);
      const v = x.values;
      const out = new Float64Array(v.length);
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < inner; j++) {
          const base = o * n * inner + j;
          let acc = identity;
          for (let s = 0; s < n; s++) {
            const at = base + (reverse ? n - 1 - s : s) * inner;
            if (exclusive) {
              out[at] = acc;
              acc = combine(acc, v[at]!);
            } else {
              acc = combine(acc, v[at]!);
              out[at] = acc;
            }
          }
        }
      }
      return [TensorData.fromValues(x.dtype, x.dims, out)];
    },
  });
}

defineScan('CumSum', 0, (a, v) => a + v, 11);
