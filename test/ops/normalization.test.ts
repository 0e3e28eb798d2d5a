// Normalization ops: batch, instance, layer, group, RMS, mean-variance, Lp and LRN. Expected
// values are hand-computed or from onnx.reference.ReferenceEvaluator.

import { describe, expect, it } from 'vitest';
import { Attrs, Graph, attr, type AttrValue, type Value } from '../../compiler/ir/graph.js';
import { getOp, type LowerContext } from '../../compiler/ir/ops.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import type { TensorType } from '../../compiler/ir/types.js';
import { f32, inferOp, runOp } from '../helpers/op-harness.js';

const vals = (t: TensorData | undefined) => Array.from(t!.values);
const sym = (shape: (number | string)[]) => ({ type: { dtype: 'f32' as const, shape } });
const close = (got: number[], want: number[], digits = 5) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, digits));
};

describe('BatchNormalization', () => {
  const x = f32([1, 2, 2], [1, 3, 10, 20]);
  const p = (v: number[]) => f32([2], v);
  it('normalizes with running statistics', () => {
    const [y] = runOp('BatchNormalization', [x, p([2, 1]), p([0, 1]), p([2, 10]), p([4, 100])], { epsilon: attr.float(0) });
    close(vals(y), [-1, 1, 1, 2]);
  });
  it('computes batch statistics and running updates in training mode', () => {
    const [y, rm, rv] = runOp('BatchNormalization', [x, p([1, 1]), p([0, 0]), p([0, 0]), p([1, 1])],
      { epsilon: attr.float(0), training_mode: attr.int(1), momentum: attr.float(0.5) }, 3);
    close(vals(y), [-1, 1, -1, 1]);
    close(vals(rm), [1, 7.5]);
    close(vals(rv), [1, 13]);
  });
  it('checks parameter shapes and output counts', () => {
    expect(inferOp('BatchNormalization', [sym(['N', 2, 'H', 'W']), ...[1, 2, 3, 4].map(() => sym([2]))])[0]!.shape).toEqual(['N', 2, 'H', 'W']);
    expect(() => inferOp('BatchNormalization', [sym([1, 2, 2]), sym([3]), sym([2]), sym([2]), sym([2])])).toThrow(/'scale' must have shape \[2\], got \[3\]/);
    expect(() => inferOp('BatchNormalization', [sym([1, 2, 2]), sym([2]), sym([2]), sym([2]), sym([2])], {}, 3)).toThrow(/need training_mode=1/);
  });
  it('lowers opset-7 forms by dropping spatial and is_test', () => {
    const { emitted, outputs } = lower('BatchNormalization', 7, [{ dtype: 'f32', shape: [1, 2, 2] }, ...[1, 2, 3, 4].map(() => ({ dtype: 'f32' as const, shape: [2] }))],
      { spatial: attr.int(1), is_test: attr.int(1), epsilon: attr.float(1e-3) }, 1);
    expect(emitted[0]!.attrs.entries().map(([k]) => k)).toEqual(['epsilon']);
    expect(outputs.length).toBe(1);
    expect(() => lower('BatchNormalization', 7, [{ dtype: 'f32', shape: [1, 2, 2] }], { spatial: attr.int(0) }, 1)).toThrow(/spatial=0/);
  });
});

describe('Instance, Group, Layer and RMS normalization', () => {
  it('InstanceNormalization normalizes each (n, c) plane', () => {
    const [y] = runOp('InstanceNormalization', [f32([1, 2, 2], [1, 3, 5, 5]), f32([2], [2, 1]), f32([2], [0, 7])], { epsilon: attr.float(1e-12) });
    close(vals(y), [-2, 2, 7, 7]);
  });
  it('GroupNormalization normalizes per group with per-channel scale', () => {
    const [y] = runOp('GroupNormalization', [f32([1, 4, 2], [0, 1, 2, 3, 4, 5, 6, 7]), f32([4], [1, 2, 1, 1]), f32([4], [0, 0, 0, 1])], { num_groups: attr.int(2) });
    close(vals(y), [-1.3416355, -0.4472118, 0.8944237, 2.683271, -1.3416355, -0.4472118, 1.4472119, 2.3416355]);
    expect(() => inferOp('GroupNormalization', [sym([1, 6, 2]), sym([6]), sym([6])], { num_groups: attr.int(4) })).toThrow(/6 channels are not divisible by num_groups=4/);
  });
  it('GroupNormalization lowers opset-18 per-group scales to per-channel ones', () => {
    const g = new Graph('t');
    const c = g.addConstant('s', f32([2], [3, 5]));
    const { emitted } = lower('GroupNormalization', 18, [{ dtype: 'f32', shape: ['N', 4, 2] }, { dtype: 'f32', shape: [2] }, { dtype: 'f32', shape: [2] }], { num_groups: attr.int(2) }, 1, [null, c, null]);
    expect(vals(emitted.at(-1)!.inputs[1]!.constant)).toEqual([3, 3, 5, 5]);
    expect(emitted.map((e) => e.op)).toEqual(['Reshape', 'Expand', 'Reshape', 'GroupNormalization']);
  });
  it('LayerNormalization normalizes trailing axes and returns its statistics', () => {
    const [y, mean, inv] = runOp('LayerNormalization', [f32([2, 4], [1, 2, 3, 4, 2, 2, 2, 6]), f32([4], [1, 2, 1, 1]), f32([4], [0, 0, 0, 1])], {}, 3);
    close(vals(y), [-1.3416355, -0.8944237, 0.4472118, 2.3416355, -0.5773493, -1.1546986, -0.5773493, 2.732048]);
    expect(mean!.dims).toEqual([2, 1]);
    close(vals(mean), [2.5, 3]);
    close(vals(inv), [1 / Math.sqrt(1.25 + 1e-5), 1 / Math.sqrt(3 + 1e-5)]);
    const t = inferOp('LayerNormalization', [sym(['b', 128, 768]), sym([768]), sym([768])], { axis: attr.int(-1) }, 3);
    expect(t.map((x) => x.shape)).toEqual([['b', 128, 768], ['b', 128, 1], ['b', 128, 1]]);
    expect(() => inferOp('LayerNormalization', [sym([2, 4]), sym([5])])).toThrow(/'Scale' of shape \[5\] does not broadcast to \[2,4\]/);
  });
  it('RMSNormalization scales by the root mean square', () => {
    const [y] = runOp('RMSNormalization', [f32([1, 2], [3, 4]), f32([2], [1, 2])], { epsilon: attr.float(0) });
    const rms = Math.sqrt(12.5);
    close(vals(y), [3 / rms, 8 / rms]);
  });
});

describe('MeanVarianceNormalization, LpNormalization and LRN', () => {
  it('MeanVarianceNormalization follows the ONNX function body', () => {
    const [y] = runOp('MeanVarianceNormalization', [f32([1, 1, 2, 2], [1, 2, 3, 5])]);
    close(vals(y), [-1.1832159, -0.5070925, 0.1690308, 1.5212775]);
    expect(() => inferOp('MeanVarianceNormalization', [sym([2, 3])])).toThrow(/axes 2 is out of range for rank 2/);
  });
  it('LpNormalization divides by the norm and leaves zero vectors at zero', () => {
    close(vals(runOp('LpNormalization', [f32([2, 2], [3, 4, 0, 0])])[0]), [0.6, 0.8, 0, 0]);
    close(vals(runOp('LpNormalization', [f32([2, 2], [1, 3, -1, 1])], { axis: attr.int(0), p: attr.int(1) })[0]), [0.5, 0.75, -0.5, 0.25]);
    expect(() => inferOp('LpNormalization', [sym([2])], { p: attr.int(3) })).toThrow(/'p' must be 1 or 2, got 3/);
  });
  it('LRN sums squares over neighbouring channels', () => {
    const [y] = runOp('LRN', [f32([1, 4, 2, 1], [1, 2, 3, 4, 5, 6, 7, 8])], { size: attr.int(3), alpha: attr.float(0.1) });
    const f = (x: number, sq: number) => x / Math.pow(1 + (0.1 / 3) * sq, 0.75);
    close(vals(y), [f(1, 1 + 9), f(2, 4 + 16), f(3, 1 + 9 + 25), f(4, 4 + 16 + 36), f(5, 9 + 25 + 49), f(6, 16 + 36 + 64), f(7, 25 + 49), f(8, 36 + 64)]);
    expect(() => inferOp('LRN', [sym([1, 4, 2])], {})).toThrow(/required attribute 'size'/);
  });
});

function lower(op: string, opset: number, inputTypes: TensorType[], attrs: Record<string, AttrValue>, outputCount: number, preset: (Value | null)[] = []) {
  const g = new Graph('lower');
  const inputs = inputTypes.map((t, i) => preset[i] ?? g.addInput(`x${i}`, t));
  const emitted: { op: string; attrs: Attrs; inputs: (Value | null)[] }[] = [];
  let outputs: (Value | null)[] = [];
  const ctx: LowerContext = {
    opset, opType: op, name: 'n', inputs, attrs: Attrs.from(attrs), outputCount,
    emit(o, ins, a = new Attrs(), count = 1) {
      emitted.push({ op: o, attrs: a, inputs: ins });
      return Array.from({ length: count }, (_, k) => g.newValue(`${o}_${k}`, { dtype: 'f32', shape: [] }));
    },
    constant(data) { return g.addConstant('c', data); },
    setOutputs(v) { outputs = v; },
  };
  getOp(op)!.onnxLower!(ctx);
  return { emitted, outputs };
}
