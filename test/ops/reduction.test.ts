// Reductions, ArgMax/ArgMin, the softmax family (including the pre-13 lowering) and CumSum.
// Expected values are hand-computed or from onnx.reference.ReferenceEvaluator.

import { describe, expect, it } from 'vitest';
import { Attrs, Graph, attr, type AttrValue, type Value } from '../../compiler/ir/graph.js';
import { getOp, type LowerContext } from '../../compiler/ir/ops.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import type { TensorType } from '../../compiler/ir/types.js';
import { f32, i64, inferOp, runOp } from '../helpers/op-harness.js';

const vals = (t: TensorData | undefined) => Array.from(t!.values);
const sym = (shape: (number | string)[]) => ({ type: { dtype: 'f32' as const, shape } });
const m23 = f32([2, 3], [1, -2, 3, 4, 5, -6]);

/** Runs an op's ONNX lowering against a recording context; returns the emitted ops. */
function lower(op: string, opset: number, inputTypes: TensorType[], attrs: Record<string, AttrValue> = {}) {
  const g = new Graph('lower');
  const inputs = inputTypes.map((t, i) => g.addInput(`x${i}`, t));
  const emitted: { op: string; attrs: Attrs; inputs: (Value | null)[] }[] = [];
  let outputs: (Value | null)[] = [];
  const ctx: LowerContext = {
    opset, opType: op, name: 'n', inputs, attrs: Attrs.from(attrs), outputCount: 1,
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

describe('ReduceXxx', () => {
  const axes = (a: number[]) => i64([a.length], a);
  it('computes each reduction over the given axes', () => {
    const r = (op: string) => vals(runOp(op, [m23, axes([1])], { keepdims: attr.int(0) }, 1, [1])[0]);
    expect(r('ReduceSum')).toEqual([2, 3]);
    expect(r('ReduceMean')).toEqual([2 / 3, 1].map(Math.fround));
    expect(r('ReduceMax')).toEqual([3, 5]);
    expect(r('ReduceMin')).toEqual([-2, -6]);
    expect(r('ReduceProd')).toEqual([-6, -120]);
    expect(r('ReduceL1')).toEqual([6, 15]);
    expect(r('ReduceL2')).toEqual([Math.sqrt(14), Math.sqrt(77)].map(Math.fround));
    expect(r('ReduceSumSquare')).toEqual([14, 77]);
    expect(r('ReduceLogSum')).toEqual([Math.log(2), Math.log(3)].map(Math.fround));
    const [lse] = runOp('ReduceLogSumExp', [f32([2, 2], [1, 2, 3, 4]), axes([1])], { keepdims: attr.int(0) }, 1, [1]);
    expect(vals(lse)[0]).toBeCloseTo(2.3132617, 6);
    expect(vals(lse)[1]).toBeCloseTo(4.3132615, 6);
  });
  it('keeps dims, reduces all axes by default, and honours noop_with_empty_axes', () => {
    const [k] = runOp('ReduceSum', [m23, axes([-2])], {}, 1, [1]);
    expect(k!.dims).toEqual([1, 3]);
    expect(vals(k)).toEqual([5, 3, -3]);
    const [all] = runOp('ReduceMax', [m23]);
    expect(all!.dims).toEqual([1, 1]);
    expect(vals(all)).toEqual([5]);
    const [noop] = runOp('ReduceSum', [m23, i64([0], [])], { noop_with_empty_axes: attr.int(1) }, 1, [1]);
    expect(vals(noop)).toEqual(vals(m23));
  });
  it('gives the identities on empty sets', () => {
    const e = f32([2, 0, 4], []);
    const r = (op: string) => vals(runOp(op, [e, axes([1])], { keepdims: attr.int(0) }, 1, [1])[0]).slice(0, 1);
    expect(r('ReduceSum')).toEqual([0]);
    expect(r('ReduceProd')).toEqual([1]);
    expect(r('ReduceMax')).toEqual([-Infinity]);
    expect(r('ReduceMin')).toEqual([Infinity]);
    expect(r('ReduceLogSumExp')).toEqual([-Infinity]);
    expect(r('ReduceL2')).toEqual([0]);
    const [imax] = runOp('ReduceMax', [TensorData.fromValues('i32', [0, 2], []), axes([0])], {}, 1, [1]);
    expect(vals(imax)).toEqual([-(2 ** 31), -(2 ** 31)]);
  });
  it('infers symbolic shapes and fresh dims when axes are unknown', () => {
    expect(inferOp('ReduceMean', [sym(['b', 128, 768]), { data: axes([-1]), constant: true }])[0]!.shape).toEqual(['b', 128, 1]);
    const t = inferOp('ReduceMean', [sym(['b', 1, 768]), { type: { dtype: 'i64', shape: [1] } }])[0]!;
    expect(t.shape[1]).toBe(1);
    expect(t.shape.length).toBe(3);
    expect(inferOp('ReduceMean', [sym([2, 3, 4]), { type: { dtype: 'i64', shape: [2] } }], { keepdims: attr.int(0) })[0]!.shape.length).toBe(1);
    expect(() => inferOp('ReduceMean', [sym([2, 3]), { type: { dtype: 'i64', shape: ['k'] } }], { keepdims: attr.int(0) })).toThrow(/keepdims=0 needs the number of axes known/);
    expect(() => inferOp('ReduceSum', [sym([2, 3]), { data: axes([2]), constant: true }])).toThrow(/axes 2 is out of range for rank 2/);
    expect(() => inferOp('ReduceSum', [sym([2, 3]), { data: axes([1, -1]), constant: true }])).toThrow(/axes \[1,-1\] has duplicates/);
  });
  it('lowers the axes attribute of older opsets into a constant input', () => {
    const { emitted } = lower('ReduceMean', 13, [{ dtype: 'f32', shape: [2, 3] }], { axes: attr.ints([1]), keepdims: attr.int(0) });
    expect(emitted[0]!.op).toBe('ReduceMean');
    expect(emitted[0]!.attrs.has('axes')).toBe(false);
    expect(vals(emitted[0]!.inputs[1]!.constant)).toEqual([1]);
    const sum13 = lower('ReduceSum', 13, [{ dtype: 'f32', shape: [2, 3] }]);
    expect(sum13.emitted[0]!.inputs.length).toBe(1);
  });
});

describe('ArgMax and ArgMin', () => {
  const t = f32([2, 3], [1, 5, 5, 7, 2, 7]);
  it('picks first or last extreme index', () => {
    expect(vals(runOp('ArgMax', [t], { axis: attr.int(1) })[0])).toEqual([1, 0]);
    expect(vals(runOp('ArgMax', [t], { axis: attr.int(1), select_last_index: attr.int(1) })[0])).toEqual([2, 2]);
    const [m] = runOp('ArgMin', [t], { keepdims: attr.int(0) });
    expect(m!.dtype).toBe('i64');
    expect(m!.dims).toEqual([3]);
    expect(vals(m)).toEqual([0, 1, 0]);
  });
  it('infers shapes and rejects a bad axis', () => {
    expect(inferOp('ArgMax', [sym(['b', 10])], { axis: attr.int(-1) })[0]).toEqual({ dtype: 'i64', shape: ['b', 1] });
    expect(() => inferOp('ArgMax', [sym([2])], { axis: attr.int(1) })).toThrow(/axis 1 is out of range for rank 1/);
  });
});

describe('Softmax, LogSoftmax and Hardmax', () => {
  it('applies along the axis', () => {
    const [s] = runOp('Softmax', [f32([2, 2], [0, Math.log(3), 1000, 1000])]);
    expect(vals(s)).toEqual([0.25, 0.75, 0.5, 0.5]);
    const [c] = runOp('Softmax', [f32([2, 2], [0, 0, 0, Math.log(3)])], { axis: attr.int(0) });
    expect(vals(c)).toEqual([0.5, 0.25, 0.5, 0.75]);
    const [l] = runOp('LogSoftmax', [f32([2], [1, 1])]);
    expect(vals(l)).toEqual([-Math.LN2, -Math.LN2].map(Math.fround));
    const [h] = runOp('Hardmax', [f32([2, 3], [1, 3, 3, -1, -2, -3])]);
    expect(vals(h)).toEqual([0, 1, 0, 1, 0, 0]);
  });
  it('rejects integer inputs', () => {
    expect(() => inferOp('Softmax', [{ type: { dtype: 'i64', shape: [2] } }])).toThrow(/needs a float input, got i64/);
  });
  it('lowers the pre-13 2-D coercion', () => {
    const last = lower('Softmax', 11, [{ dtype: 'f32', shape: [2, 3] }]);
    expect(last.emitted.map((e) => e.op)).toEqual(['Softmax']);
    expect(last.emitted[0]!.attrs.int('axis')).toBe(-1);
    const mid = lower('LogSoftmax', 11, [{ dtype: 'f32', shape: [2, 3, 4] }]);
    expect(mid.emitted.map((e) => e.op)).toEqual(['Flatten', 'LogSoftmax', 'Reshape']);
    expect(mid.emitted[0]!.attrs.int('axis')).toBe(1);
    expect(vals(mid.emitted[2]!.inputs[1]!.constant)).toEqual([2, 3, 4]);
    const dyn = lower('Hardmax', 1, [{ dtype: 'f32', shape: ['b', 3, 4] }], { axis: attr.int(0) });
    expect(dyn.emitted.map((e) => e.op)).toEqual(['Flatten', 'Hardmax', 'Shape', 'Reshape']);
    expect(lower('Softmax', 13, [{ dtype: 'f32', shape: [2, 3, 4] }], { axis: attr.int(1) }).emitted[0]!.attrs.int('axis')).toBe(1);
  });
});

describe('CumSum', () => {
  const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);
  const ax = (a: number) => i64([], [a]);
  it('sums along the axis, exclusive and reversed', () => {
    expect(vals(runOp('CumSum', [x, ax(1)])[0])).toEqual([1, 3, 6, 4, 9, 15]);
    expect(vals(runOp('CumSum', [x, ax(0)])[0])).toEqual([1, 2, 3, 5, 7, 9]);
    expect(vals(runOp('CumSum', [x, ax(-1)], { exclusive: attr.int(1) })[0])).toEqual([0, 1, 3, 0, 4, 9]);
    expect(vals(runOp('CumSum', [x, ax(1)], { reverse: attr.int(1) })[0])).toEqual([6, 5, 3, 15, 11, 6]);
    expect(vals(runOp('CumSum', [x, ax(1)], { reverse: attr.int(1), exclusive: attr.int(1) })[0])).toEqual([5, 3, 0, 11, 6, 0]);
  });
  it('checks the axis input', () => {
    expect(() => runOp('CumSum', [x, ax(2)], {}, 1, [1])).toThrow(/axis 2 is out of range for rank 2/);
    expect(() => inferOp('CumSum', [sym([2]), sym([2])])).toThrow(/'axis' must be a scalar/);
  });
});
