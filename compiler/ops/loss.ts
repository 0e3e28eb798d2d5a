// Training losses that appear in exported graphs: NegativeLogLikelihoodLoss and
// SoftmaxCrossEntropyLoss (log-softmax over the class axis, then the same weighted gather and
// reduction). Both take scores [N, C, d1..dk] and integer targets [N, d1..dk].

import { isFloat, isInteger } from '../ir/dtype.js';
import { defineOp, type InferContext } from '../ir/ops.js';
import type { Dim, TensorType } from '../ir/types.js';
import { Attrs, OpError, TensorData, requireInput } from './common.js';

const REDUCTIONS = ['none', 'sum', 'mean'];

function reductionOf(attrs: Attrs): string {
  const r = attrs.string('reduction', 'mean');
  if (!REDUCTIONS.includes(r)) throw new OpError(`attribute 'reduction' must be one of none, sum, mean, got '${r}'`);
  return r;
}

/** Shape rule shared by both losses: checks scores/target/weight and returns the loss type. */
function lossType(ctx: InferContext, op: string, what: [string, string, string]): TensorType {
  const x = ctx.input(0);
  const t = ctx.input(1);
  if (!isFloat(x.dtype)) throw new OpError(`${op} input '${what[0]}' must be a float tensor, got ${x.dtype}`);
  if (!isInteger(t.dtype)) throw new OpError(`${op} input '${what[1]}' must be an integer tensor, got ${t.dtype}`);
  if (x.shape.length < 2) throw new OpError(`${op} input '${what[0]}' must have rank >= 2, got [${x.shape.join(',')}]`);
  const expect: Dim[] = [x.shape[0]!, ...x.shape.slice(2)];
  const ok = t.shape.length === expect.length
    && t.shape.every((d, k) => typeof d !== 'number' || typeof expect[k] !== 'number' || d === expect[k]);
  if (!ok) throw new OpError(`${op} input '${what[1]}' must have shape [${expect.join(',')}], got [${t.shape.join(',')}]`);
  const w = ctx.optionalInput(2);
  if (w) {
    const C = x.shape[1]!;
    if (w.shape.length !== 1 || (typeof w.shape[0] === 'number' && typeof C === 'number' && w.shape[0] !== C)) {
      throw new OpError(`${op} input '${what[2]}' must have shape [${C}], got [${w.shape.join(',')}]`);
    }
    if (w.dtype !== x.dtype) throw new OpError(`${op} input '${what[2]}' has dtype ${w.dtype}, expected ${x.dtype}`);
  }
  const shape = reductionOf(ctx.attrs) === 'none' ? expect : [];
  return { dtype: x.dtype, shape };
}

/**
 * The weighted negative gather: loss[n, d] = -logp[n, target[n, d], d] * w[target], with ignored
 * targets contributing zero loss and zero weight; 'mean' divides by the total weight.
 */
function nll(logp: Float64Array, x: TensorData, target: TensorData, weight: TensorData | undefined, attrs: Attrs): TensorData {
  const dims = x.dims;
  const N = dims[0]!;
  const C = dims[1]!;
  let D = 1;
  for (let k = 2; k < dims.length; k++) D *= dims[k]!;
  const ignore = attrs.has('ignore_index') ? attrs.int('ignore_index') : undefined;
  const tv = target.values;
  const wv = weight?.values;
  const loss = new Float64Array(N * D);
  let wsum = 0;
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) {
      const c = tv[n * D + d]!;
      if (c === ignore) continue;
      if (c < 0 || c >= C || !Number.isInteger(c)) throw new OpError(`target value ${c} is out of range for ${C} classes`);
      const w = wv ? wv[c]! : 1;
      loss[n * D + d] = -logp[(n * C + c) * D + d]! * w;
      wsum += w;
    }
  }
  const reduction = reductionOf(attrs);
  if (reduction === 'none') return TensorData.fromValues(x.dtype, [N, ...dims.slice(2)], loss);
  let s = 0;
  for (const v of loss) s += v;
  return TensorData.fromValues(x.dtype, [], [reduction === 'sum' ? s : s / wsum]);
}

defineOp({
  name: 'NegativeLogLikelihoodLoss',
  fusionClass: 'reduction',
  inputs: [2, 3],
  outputs: [1, 1],
  onnxSince: 12,
  infer(ctx) {
    return [lossType(ctx, 'NegativeLogLikelihoodLoss', ['input', 'target', 'weight'])];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'NegativeLogLikelihoodLoss');
    const t = requireInput(inputs, 1, 'NegativeLogLikelihoodLoss');
    return [nll(x.values, x, t, inputs[2], attrs)];
  },
});

defineOp({
  name: 'SoftmaxCrossEntropyLoss',
  fusionClass: 'reduction',
  inputs: [2, 3],
  outputs: [1, 2],
  onnxSince: 12,
  infer(ctx) {
    const loss = lossType(ctx, 'SoftmaxCrossEntropyLoss', ['scores', 'labels', 'weights']);
    const x = ctx.input(0);
    return [loss, { dtype: x.dtype, shape: [...x.shape] }];
  },
  evaluate(inputs, attrs, outputCount) {
    const x = requireInput(inputs, 0, 'SoftmaxCrossEntropyLoss');
    const t = requireInput(inputs, 1, 'SoftmaxCrossEntropyLoss');
    const [N, C] = [x.dims[0]!, x.dims[1]!];
    const D = x.size / Math.max(1, N * C);
    const v = x.values;
    // Log-softmax over the class axis, shifted by the max for range.
    const logp = new Float64Array(v.length);
    for (let n = 0; n < N; n++) {
      for (let d = 0; d < D; d++) {
        const at = (c: number) => (n * C + c) * D + d;
        let m = -Infinity;
        for (let c = 0; c < C; c++) m = Math.max(m, v[at(c)]!);
        let s = 0;
        for (let c = 0; c < C; c++) s += Math.exp(v[at(c)]! - m);
        const lse = m + Math.log(s);
        for (let c = 0; c < C; c++) logp[at(c)] = v[at(c)]! - lse;
      }
    }
    const out = [nll(logp, x, t, inputs[2], attrs)];
    if (outputCount > 1) out.push(TensorData.fromValues(x.dtype, x.dims, logp));
    return out;
  },
});
