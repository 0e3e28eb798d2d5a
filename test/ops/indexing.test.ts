// Indexing ops: gathers and scatters (negative indices, batch dims, reductions), one-hot, top-k and
// the data-dependent ops, with values checked against onnx.reference results.

import { describe, expect, it } from 'vitest';
import { Attrs, Graph, attr } from '../../compiler/ir/graph.js';
import { inferAndSet, type ShapeValues } from '../../compiler/ir/infer.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import type { Dim } from '../../compiler/ir/types.js';
import { f32, i64, inferOp, runOp } from '../helpers/op-harness.js';

const vals = (t: TensorData | undefined) => Array.from(t!.values);
const sym = (shape: Dim[]) => ({ type: { dtype: 'f32' as const, shape } });

describe('Gather', () => {
  it('gathers along an axis with negative indices', () => {
    const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);
    const [y] = runOp('Gather', [x, i64([2], [-1, 0])], { axis: attr.int(1) });
    expect(y!.dims).toEqual([2, 2]);
    expect(vals(y)).toEqual([3, 1, 6, 4]);
    const [z] = runOp('Gather', [x, i64([], [1])]);
    expect(z!.dims).toEqual([3]);
    expect(vals(z)).toEqual([4, 5, 6]);
  });
  it('keeps symbolic dims around the indices', () => {
    const [t] = inferOp('Gather', [sym(['vocab', 768]), { type: { dtype: 'i64', shape: ['batch', 'seq'] } }]);
    expect(t!.shape).toEqual(['batch', 'seq', 768]);
  });
  it('reads one dim of a shape at compile time (Shape -> Gather)', () => {
    const g = new Graph('t');
    const known: ShapeValues = new Map();
    const x = g.addInput('x', { dtype: 'f32', shape: ['batch', 'seq', 768] });
    const shape = g.addNode({ op: 'Shape', inputs: [x], outputTypes: [x.type], loc: 's' });
    inferAndSet(g, shape, known);
    const idx = g.addConstant('i', TensorData.fromValues('i64', [], [-2]));
    const gather = g.addNode({ op: 'Gather', inputs: [shape.outputs[0]!, idx], attrs: new Attrs(), outputTypes: [x.type], loc: 'g' });
    inferAndSet(g, gather, known);
    expect(gather.outputs[0]!.type.shape).toEqual([]);
    expect(known.get(gather.outputs[0]!)).toEqual(['seq']);
  });
  it('rejects out-of-range indices and float indices', () => {
    expect(() => runOp('Gather', [f32([2], [1, 2]), i64([1], [2])])).toThrow(/index 2 is out of range for size 2/);
    expect(() => inferOp('Gather', [sym([2]), sym([1])])).toThrow(/indices must be i32 or i64/);
  });
});

describe('GatherElements / GatherND', () => {
  it('GatherElements picks per-element along an axis', () => {
    const [y] = runOp('GatherElements', [f32([2, 2], [1, 2, 3, 4]), i64([2, 2], [0, 0, 1, -2])], { axis: attr.int(1) });
    expect(vals(y)).toEqual([1, 1, 4, 3]);
  });
  it('GatherND with batch_dims', () => {
    const data = f32([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7]);
    const [y] = runOp('GatherND', [data, i64([2, 1], [1, 0])], { batch_dims: attr.int(1) });
    expect(y!.dims).toEqual([2, 2]);
    expect(vals(y)).toEqual([2, 3, 4, 5]);
    const [z] = runOp('GatherND', [f32([2, 2], [0, 1, 2, 3]), i64([2, 2], [0, 0, 1, 1])]);
    expect(vals(z)).toEqual([0, 3]);
    expect(() => inferOp('GatherND', [sym([2, 2]), { type: { dtype: 'i64', shape: [1, 3] } }])).toThrow(/exceed data rank 2/);
  });
});

describe('scatters', () => {
  it('ScatterND replaces or reduces slices', () => {
    const data = f32([4], [1, 2, 3, 4]);
    const idx = i64([2, 1], [1, 1]);
    const upd = f32([2], [10, 20]);
    expect(vals(runOp('ScatterND', [data, idx, upd], { reduction: attr.string('add') })[0])).toEqual([1, 32, 3, 4]);
    expect(vals(runOp('ScatterND', [data, i64([1, 1], [-1]), f32([1], [9])])[0])).toEqual([1, 2, 3, 9]);
    expect(vals(runOp('ScatterND', [data, idx, upd], { reduction: attr.string('max') })[0])).toEqual([1, 20, 3, 4]);
  });
  it('ScatterElements along an axis with a reduction', () => {
    const data = f32([1, 5], [1, 2, 3, 4, 5]);
    const [y] = runOp('ScatterElements', [data, i64([1, 2], [1, 1]), f32([1, 2], [1.1, 2.1])], { axis: attr.int(1), reduction: attr.string('add') });
    expect(vals(y)).toEqual([1, 2 + Math.fround(1.1) + Math.fround(2.1), 3, 4, 5].map(Math.fround));
    const [z] = runOp('ScatterElements', [data, i64([1, 1], [-1]), f32([1, 1], [0])], { axis: attr.int(1), reduction: attr.string('mul') });
    expect(vals(z)).toEqual([1, 2, 3, 4, 0]);
  });
  it('rejects unknown reductions and mismatched dtypes', () => {
    expect(() => inferOp('ScatterND', [sym([2]), { type: { dtype: 'i64', shape: [1, 1] } }, sym([1])], { reduction: attr.string('sub') })).toThrow(/reduction 'sub'/);
    expect(() => inferOp('ScatterElements', [sym([2]), { type: { dtype: 'i64', shape: [1] } }, { type: { dtype: 'i64', shape: [1] } }])).toThrow(/updates have dtype i64/);
  });
});

describe('OneHot', () => {
  it('encodes with negative and out-of-range indices', () => {
    const [y] = runOp('OneHot', [i64([3], [0, -1, 5]), f32([], [3]), f32([2], [0, 1])], {}, 1, [1]);
    expect(y!.dims).toEqual([3, 3]);
    expect(vals(y)).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0]);
    const [z] = runOp('OneHot', [i64([2], [1, 0]), i64([1], [2]), i64([2], [5, 7])], { axis: attr.int(0) }, 1, [1]);
    expect(z!.dtype).toBe('i64');
    expect(vals(z)).toEqual([5, 7, 7, 5]);
  });
});

describe('data-dependent ops', () => {
  it('NonZero lists coordinates of non-zero elements', () => {
    const [y] = runOp('NonZero', [f32([2, 2], [1, 0, 1, 1])]);
    expect(y!.dims).toEqual([2, 3]);
    expect(vals(y)).toEqual([0, 1, 1, 0, 0, 1]);
    expect(typeof inferOp('NonZero', [sym(['n', 2])])[0]!.shape[1]).toBe('string');
  });
  it('Compress selects along an axis or over the flattened input', () => {
    const x = f32([3, 2], [1, 2, 3, 4, 5, 6]);
    const cond = TensorData.fromValues('bool', [2], [0, 1]);
    expect(vals(runOp('Compress', [x, cond], { axis: attr.int(0) }, 1, [1])[0])).toEqual([3, 4]);
    expect(vals(runOp('Compress', [x, TensorData.fromValues('bool', [3], [1, 0, 1])])[0])).toEqual([1, 3]);
  });
  it('Unique gives values, first indices, inverse indices and counts', () => {
    const outs = runOp('Unique', [f32([6], [2, 1, 1, 3, 4, 3])], {}, 4);
    expect(outs.map(vals)).toEqual([[1, 2, 3, 4], [1, 0, 3, 4], [1, 0, 0, 2, 3, 2], [2, 1, 2, 1]]);
    const unsorted = runOp('Unique', [f32([6], [2, 1, 1, 3, 4, 3])], { sorted: attr.int(0) }, 4);
    expect(vals(unsorted[0])).toEqual([2, 1, 3, 4]);
    const rows = runOp('Unique', [f32([3, 2], [1, 2, 0, 5, 1, 2])], { axis: attr.int(0) }, 4);
    expect(rows[0]!.dims).toEqual([2, 2]);
    expect(vals(rows[0])).toEqual([0, 5, 1, 2]);
    expect(vals(rows[2])).toEqual([1, 0, 1]);
  });
});

describe('TopK', () => {
  it('returns the k largest or smallest, ties by lower index', () => {
    const x = f32([1, 4], [1, 3, 3, 2]);
    const [v, i] = runOp('TopK', [x, i64([1], [2])], {}, 2, [1]);
    expect(vals(v)).toEqual([3, 3]);
    expect(vals(i)).toEqual([1, 2]);
    expect(i!.dtype).toBe('i64');
    const [s, j] = runOp('TopK', [x, i64([1], [2])], { largest: attr.int(0) }, 2, [1]);
    expect(vals(s)).toEqual([1, 2]);
    expect(vals(j)).toEqual([0, 3]);
  });
  it('types outputs with k, or a fresh dim when k is unknown', () => {
    const [a, b] = inferOp('TopK', [sym(['batch', 10]), { data: i64([1], [3]), constant: true }], { axis: attr.int(1) }, 2);
    expect(a!.shape).toEqual(['batch', 3]);
    expect(b!.dtype).toBe('i64');
    expect(() => inferOp('TopK', [sym([2, 4]), { data: i64([1], [5]), constant: true }], {}, 2)).toThrow(/K 5 is out of range/);
  });
});
