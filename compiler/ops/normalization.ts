// Normalizations: statistics over some axes, then scale and shift (BatchNormalization,
// InstanceNormalization, LayerNormalization, GroupNormalization, RMSNormalization,
// MeanVarianceNormalization, LpNormalization, LRN). Older ONNX forms are lowered to the newest.

import { dtypeFromOnnx, isFloat, type DType } from '../ir/dtype.js';
import { defineOp, type InferContext, type LowerContext, type OnnxLowering } from '../ir/ops.js';
import type { Dim, TensorType } from '../ir/types.js';
import {
  Attrs, OpError, TensorData, broadcastIndex, broadcastShapes, elementCount, normalizeAxis, requireInput,
} from './common.js';
import { normalizeAxes, reduceIndex, splitAt } from './reduction.js';

function floatInput(ctx: InferContext, op: string): TensorType {
  const x = ctx.input(0);
  if (!isFloat(x.dtype)) throw new OpError(`${op} needs a float input, got ${x.dtype}`);
  return x;
}

/** Requires input `i` to be 1-D of `size` elements (when both are known). */
function checkVector(ctx: InferContext, i: number, what: string, size: Dim): void {
  const t = ctx.optionalInput(i);
  if (!t) return;
  const ok = t.shape.length === 1 && (typeof t.shape[0] !== 'number' || typeof size !== 'number' || t.shape[0] === size);
  if (!ok) throw new OpError(`input '${what}' must have shape [${size}], got [${t.shape.join(',')}]`);
}

/** Lowering that drops attributes older opsets carried but the IR form has no use for. */
function dropAttrs(names: readonly string[], check?: (ctx: LowerContext) => void): OnnxLowering {
  return (ctx) => {
    check?.(ctx);
    let attrs = ctx.attrs;
    for (const n of names) attrs = attrs.with(n, undefined);
    const outs = ctx.emit(ctx.opType, [...ctx.inputs], attrs, ctx.opset >= 14 ? ctx.outputCount : 1);
    ctx.setOutputs([...outs, ...new Array<null>(Math.max(0, ctx.outputCount - outs.length)).fill(null)]);
  };
}

/** Dtype of the statistics outputs; the reference computes them in float64 whatever it is. */
function stashDtype(attrs: Attrs): DType {
  const d = dtypeFromOnnx(attrs.int('stash_type', 1));
  if (!d || !isFloat(d)) throw new OpError(`attribute 'stash_type' must name a float type, got ${attrs.int('stash_type', 1)}`);
  return d;
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization

defineOp({
  name: 'BatchNormalization',
  fusionClass: 'reduction',
  inputs: [5, 5],
  outputs: [1, 3],
  // Opsets before 14 are inference-only here: 'spatial' (default 1) is the only form models use.
  onnxLower: dropAttrs(['consumed_inputs', 'is_test', 'spatial'], (ctx) => {
    if (ctx.opset < 9 && ctx.attrs.int('spatial', 1) === 0) throw new OpError(`BatchNormalization with spatial=0 is not supported`);
  }),
  infer(ctx) {
    const x = floatInput(ctx, 'BatchNormalization');
    if (x.shape.length < 2) throw new OpError(`BatchNormalization input X must have rank >= 2, got [${x.shape}]`);
    const C = x.shape[1]!;
    for (const [i, what] of [[1, 'scale'], [2, 'B'], [3, 'input_mean'], [4, 'input_var']] as const) checkVector(ctx, i, what, C);
    const training = ctx.attrs.int('training_mode', 0) !== 0;
    if (!training && ctx.node.outputs.length > 1) throw new OpError('BatchNormalization outputs running_mean and running_var need training_mode=1');
    const stat = { dtype: ctx.input(3).dtype, shape: [C] };
    return [x, stat, stat];
  },
  evaluate(inputs, attrs, outputCount) {
    const x = requireInput(inputs, 0, 'BatchNormalization');
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => requireInput(inputs, i, 'BatchNormalization').values);
    const eps = attrs.float('epsilon', 1e-5);
    const [N, C, inner] = splitAt(x.dims, 1);
    const v = x.values;
    let m = mean!;
    let s2 = variance!;
    const training = attrs.int('training_mode', 0) !== 0;
    if (training) {
      m = new Float64Array(C);
      s2 = new Float64Array(C);
      const cnt = N * inner;
      for (let c = 0; c < C; c++) {
        let sum = 0;
        let sq = 0;
        for (let n = 0; n < N; n++) {
          const b = (n * C + c) * inner;
          for (let j = 0; j < inner; j++) { const a = v[b + j]!; sum += a; sq += a * a; }
        }
        m[c] = sum / cnt;
        s2[c] = sq / cnt - m[c]! * m[c]!;
      }
    }
    const out = new Float64Array(v.length);
    for (let c = 0; c < C; c++) {
      const k = scale![c]! / Math.sqrt(s2[c]! + eps);
      const sh = bias![c]! - m[c]! * k;
      for (let n = 0; n < N; n++) {
        const b = (n * C + c) * inner;
        for (let j = 0; j < inner; j++) out[b + j] = v[b + j]! * k + sh;
      }
    }
    const res = [TensorData.fromValues(x.dtype, x.dims, out)];
    if (training && outputCount > 1) {
      const mom = attrs.float('momentum', 0.9);
      const sd = inputs[3]!.dtype;
      const run = (prev: Float64Array, cur: Float64Array) => TensorData.fromValues(sd, [C], prev.map((p, c) => p * mom + cur[c]! * (1 - mom)));
      res.push(run(mean!, m), run(variance!, s2));
    }
    return res;
  },
});

// ---------------------------------------------------------------------------------------------
// Normalizing contiguous blocks: Instance, Group, Layer and RMS normalization

/**
 * Normalizes each of `outer` contiguous blocks of `inner` elements: (x - mean) * invStd, or
 * x * invRms when `rms`. Returns the normalized values and per-block mean and inverse deviation.
 */
function normalizeBlocks(v: Float64Array, outer: number, inner: number, eps: number, rms: boolean) {
  const out = new Float64Array(v.length);
  const means = new Float64Array(outer);
  const inv = new Float64Array(outer);
  for (let o = 0; o < outer; o++) {
    const b = o * inner;
    let mean = 0;
    if (!rms) {
      for (let j = 0; j < inner; j++) mean += v[b + j]!;
      mean /= inner;
    }
    let sq = 0;
    for (let j = 0; j < inner; j++) { const d = v[b + j]! - mean; sq += d * d; }
    const is = 1 / Math.sqrt(sq / inner + eps);
    for (let j = 0; j < inner; j++) out[b + j] = (v[b + j]! - mean) * is;
    means[o] = mean;
    inv[o] = is;
  }
  return { out, means, inv };
}

/** out = out * scale + bias with scale and bias indexed per channel of `[N, C, inner]`. */
function affinePerChannel(out: Float64Array, N: number, C: number, inner: number, scale: Float64Array, bias?: Float64Array): void {
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const k = scale[c]!;
      const sh = bias ? bias[c]! : 0;
      const b = (n * C + c) * inner;
      for (let j = 0; j < inner; j++) out[b + j] = out[b + j]! * k + sh;
    }
  }
}

defineOp({
  name: 'InstanceNormalization',
  fusionClass: 'reduction',
  inputs: [3, 3],
  outputs: [1, 1],
  onnxLower: dropAttrs(['consumed_inputs']),
  infer(ctx) {
    const x = floatInput(ctx, 'InstanceNormalization');
    if (x.shape.length < 2) throw new OpError(`InstanceNormalization input must have rank >= 2, got [${x.shape}]`);
    checkVector(ctx, 1, 'scale', x.shape[1]!);
    checkVector(ctx, 2, 'B', x.shape[1]!);
    return [x];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'InstanceNormalization');
    const [N, C, inner] = splitAt(x.dims, 1);
    const r = normalizeBlocks(x.values, N * C, inner, attrs.float('epsilon', 1e-5), false);
    affinePerChannel(r.out, N, C, inner, requireInput(inputs, 1, 'InstanceNormalization').values, requireInput(inputs, 2, 'InstanceNormalization').values);
    return [TensorData.fromValues(x.dtype, x.dims, r.out)];
  },
});

/** Opsets 18-20 give scale and bias per group; the IR form (21) has them per channel. */
function lowerGroupNorm(ctx: LowerContext): void {
  const [x, scale, bias] = ctx.inputs;
  if (ctx.opset >= 21 || !x || !scale || !bias) {
    ctx.setOutputs(ctx.emit('GroupNormalization', [...ctx.inputs], ctx.attrs, 1));
    return;
  }
  const G = ctx.attrs.int('num_groups');
  const C = x.type.shape[1];
  if (typeof C !== 'number') throw new OpError(`GroupNormalization before opset 21 needs a static channel dim, got [${x.type.shape}]`);
  if (C % G !== 0) throw new OpError(`GroupNormalization: ${C} channels are not divisible by num_groups=${G}`);
  const perChannel = (v: NonNullable<typeof scale>) => {
    if (v.constant) {
      const g = v.constant.values;
      return ctx.constant(TensorData.fromValues(v.constant.dtype, [C], Array.from({ length: C }, (_, c) => g[Math.floor(c / (C / G))]!)));
    }
    const col = ctx.emit('Reshape', [v, ctx.constant(TensorData.fromValues('i64', [2], [G, 1]))])[0]!;
    const wide = ctx.emit('Expand', [col, ctx.constant(TensorData.fromValues('i64', [2], [G, C / G]))])[0]!;
    return ctx.emit('Reshape', [wide, ctx.constant(TensorData.fromValues('i64', [1], [C]))])[0]!;
  };
  ctx.setOutputs(ctx.emit('GroupNormalization', [x, perChannel(scale), perChannel(bias)], ctx.attrs, 1));
}

defineOp({
  name: 'GroupNormalization',
  fusionClass: 'reduction',
  inputs: [3, 3],
  outputs: [1, 1],
  onnxSince: 18,
  onnxLower: lowerGroupNorm,
  infer(ctx) {
    const x = floatInput(ctx, 'GroupNormalization');
    if (x.shape.length < 2) throw new OpError(`GroupNormalization input must have rank >= 2, got [${x.shape}]`);
    const G = ctx.attrs.int('num_groups');
    const C = x.shape[1]!;
    if (typeof C === 'number' && (G < 1 || C % G !== 0)) throw new OpError(`GroupNormalization: ${C} channels are not divisible by num_groups=${G}`);
    checkVector(ctx, 1, 'scale', C);
    checkVector(ctx, 2, 'bias', C);
    stashDtype(ctx.attrs);
    return [x];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'GroupNormalization');
    const [N, C, inner] = splitAt(x.dims, 1);
    const G = attrs.int('num_groups');
    const r = normalizeBlocks(x.values, N * G, (C / G) * inner, attrs.float('epsilon', 1e-5), false);
    affinePerChannel(r.out, N, C, inner, requireInput(inputs, 1, 'GroupNormalization').values, requireInput(inputs, 2, 'GroupNormalization').values);
    return [TensorData.fromValues(x.dtype, x.dims, r.out)];
  },
});

/** Applies a scale (and bias) broadcast against x's dims: per position inside the normalized block when they fit it. */
function affineBroadcast(out: Float64Array, dims: readonly number[], inner: number, scale: TensorData, bias?: TensorData): void {
  const apply = (t: TensorData, mul: boolean) => {
    const v = t.values;
    if (t.size === inner && t.rank <= dims.length && elementCount(dims.slice(dims.length - t.rank)) === inner && dims.slice(dims.length - t.rank).every((d, k) => d === t.dims[k])) {
      for (let i = 0; i < out.length; i++) out[i] = mul ? out[i]! * v[i % inner]! : out[i]! + v[i % inner]!;
      return;
    }
    const full = broadcastShapes([t.dims, dims]);
    if (full.length !== dims.length || full.some((d, k) => d !== dims[k])) throw new OpError(`shape [${t.dims}] does not broadcast to input shape [${dims}]`);
    const idx = broadcastIndex(t.dims, dims);
    for (let i = 0; i < out.length; i++) out[i] = mul ? out[i]! * v[idx[i]!]! : out[i]! + v[idx[i]!]!;
  };
  apply(scale, true);
  if (bias) apply(bias, false);
}

function checkBroadcastTo(ctx: InferContext, i: number, what: string, x: TensorType): void {
  const t = ctx.optionalInput(i);
  if (!t) return;
  const off = x.shape.length - t.shape.length;
  const fits = off >= 0 && t.shape.every((d, k) => d === 1 || typeof d !== 'number' || typeof x.shape[off + k] !== 'number' || d === x.shape[off + k]);
  if (!fits) {
    throw new OpError(`input '${what}' of shape [${t.shape}] does not broadcast to [${x.shape}]`);
  }
}

for (const name of ['LayerNormalization', 'RMSNormalization'] as const) {
  const rms = name === 'RMSNormalization';
  defineOp({
    name,
    fusionClass: 'reduction',
    inputs: rms ? [2, 2] : [2, 3],
    outputs: rms ? [1, 1] : [1, 3],
    onnxSince: rms ? 23 : 17,
    infer(ctx) {
      const x = floatInput(ctx, name);
      const axis = normalizeAxis(ctx.attrs.int('axis', -1), x.shape.length);
      checkBroadcastTo(ctx, 1, 'Scale', x);
      checkBroadcastTo(ctx, 2, 'B', x);
      const stat = { dtype: stashDtype(ctx.attrs), shape: x.shape.map((d, k) => (k < axis ? d : 1)) };
      return rms ? [x] : [x, stat, stat];
    },
    evaluate(inputs, attrs, outputCount) {
      const x = requireInput(inputs, 0, name);
      const axis = normalizeAxis(attrs.int('axis', -1), x.rank);
      const outer = elementCount(x.dims.slice(0, axis));
      const inner = elementCount(x.dims.slice(axis));
      const r = normalizeBlocks(x.values, outer, inner, attrs.float('epsilon', 1e-5), rms);
      affineBroadcast(r.out, x.dims, inner, requireInput(inputs, 1, name), rms ? undefined : inputs[2]);
      const res = [TensorData.fromValues(x.dtype, x.dims, r.out)];
      if (outputCount > 1) {
        const sd = stashDtype(attrs);
        const statDims = x.dims.map((d, k) => (k < axis ? d : 1));
        res.push(TensorData.fromValues(sd, statDims, r.means), TensorData.fromValues(sd, statDims, r.inv));
      }
      return res;
    },
  });
}

// ---------------------------------------------------------------------------------------------
// MeanVarianceNormalization, LpNormalization, LRN

defineOp({
  name: 'MeanVarianceNormalization',
  fusionClass: 'reduction',
  inputs: [1, 1],
  outputs: [1, 1],
  onnxSince: 9,
  infer(ctx) {
    const x = floatInput(ctx, 'MeanVarianceNormalization');
    normalizeAxes(ctx.attrs.ints('axes', [0, 2, 3]), x.shape.length);
    return [x];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'MeanVarianceNormalization');
    const axes = normalizeAxes(attrs.ints('axes', [0, 2, 3]), x.rank);
    const mask = x.dims.map((_, k) => axes.includes(k));
    const idx = reduceIndex(x.dims, mask);
    const nOut = elementCount(x.dims.filter((_, k) => !mask[k]));
    const count = x.size / Math.max(nOut, 1);
    const v = x.values;
    const sum = new Float64Array(nOut);
    const sq = new Float64Array(nOut);
    for (let i = 0; i < v.length; i++) { sum[idx[i]!] += v[i]!; sq[idx[i]!] += v[i]! * v[i]!; }
    // Variance as E[x^2] - E[x]^2 and 1e-9 added to the deviation, as the ONNX function body does.
    const std = new Float64Array(nOut);
    for (let o = 0; o < nOut; o++) {
      sum[o] /= count;
      std[o] = Math.sqrt(sq[o]! / count - sum[o]! * sum[o]!) + 1e-9;
    }
    const out = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = (v[i]! - sum[idx[i]!]!) / std[idx[i]!]!;
    return [TensorData.fromValues(x.dtype, x.dims, out)];
  },
});

defineOp({
  name: 'LpNormalization',
  fusionClass: 'reduction',
  inputs: [1, 1],
  outputs: [1, 1],
  infer(ctx) {
    const x = floatInput(ctx, 'LpNormalization');
    normalizeAxis(ctx.attrs.int('axis', -1), x.shape.length);
    const p = ctx.attrs.int('p', 2);
    if (p !== 1 && p !== 2) throw new OpError(`LpNormalization attribute 'p' must be 1 or 2, got ${p}`);
    return [x];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'LpNormalization');
    const [outer, n, inner] = splitAt(x.dims, normalizeAxis(attrs.int('axis', -1), x.rank));
    const p = attrs.int('p', 2);
    const v = x.values;
    const out = new Float64Array(v.length);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const b = o * n * inner + j;
        let acc = 0;
        for (let k = 0; k < n; k++) { const a = v[b + k * inner]!; acc += p === 1 ? Math.abs(a) : a * a; }
        const norm = p === 1 ? acc : Math.sqrt(acc);
        // A zero vector stays zero (as onnxruntime and the ONNX tests have it) rather than NaN.
        if (norm !== 0) for (let k = 0; k < n; k++) out[b + k * inner] = v[b + k * inner]! / norm;
      }
    }
    return [TensorData.fromValues(x.dtype, x.dims, out)];
  },
});

defineOp({
  name: 'LRN',
  fusionClass: 'reduction',
  inputs: [1, 1],
  outputs: [1, 1],
  infer(ctx) {
    const x = floatInput(ctx, 'LRN');
    if (x.shape.length < 3) throw new OpError(`LRN input must have rank >= 3, got [${x.shape}]`);
    const size = ctx.attrs.int('size');
    if (size < 1) throw new OpError(`LRN attribute 'size' must be positive, got ${size}`);
    return [x];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'LRN');
    const size = attrs.int('size');
    const alpha = attrs.float('alpha', 1e-4) / size;
    const beta = attrs.float('beta', 0.75);
    const bias = attrs.float('bias', 1);
    const [N, C, inner] = splitAt(x.dims, 1);
    const before = Math.floor((size - 1) / 2);
    const after = Math.ceil((size - 1) / 2);
    const v = x.values;
    const out = new Float64Array(v.length);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const lo = Math.max(0, c - before);
        const hi = Math.min(C - 1, c + after);
        const b = (n * C + c) * inner;
        for (let j = 0; j < inner; j++) {
          let sq = 0;
          for (let cc = lo; cc <= hi; cc++) { const a = v[(n * C + cc) * inner + j]!; sq += a * a; }
          out[b + j] = v[b + j]! / Math.pow(bias + alpha * sq, beta);
        }
      }
    }
    return [TensorData.fromValues(x.dtype, x.dims, out)];
  },
});
