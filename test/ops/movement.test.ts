// Movement ops: values against hand-computed results, symbolic shape rules (including shapes
// computed at run time through Shape/Gather/Concat) and the errors invalid uses raise.

import { describe, expect, it } from 'vitest';
import { Attrs, Graph, attr, type AttrValue } from '../../compiler/ir/graph.js';
import { inferAndSet, type ShapeValues } from '../../compiler/ir/infer.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import type { Dim } from '../../compiler/ir/types.js';
import { f32, i64, inferOp, runOp } from '../helpers/op-harness.js';

const vals = (t: TensorData | undefined) => Array.from(t!.values);
const sym = (shape: Dim[]) => ({ type: { dtype: 'f32' as const, shape } });
const I64_MAX = 2 ** 63 - 1;

/** A tiny graph builder that runs shape inference node by node, keeping shape values. */
function graph(inputShape: Dim[]) {
  const g = new Graph('t');
  const known: ShapeValues = new Map();
  const x = g.addInput('x', { dtype: 'f32', shape: inputShape });
  const node = (op: string, inputs: ReturnType<Graph['addInput']>[], attrs: Record<string, AttrValue> = {}) => {
    const n = g.addNode({ op, inputs, attrs: Attrs.from(attrs), outputTypes: [{ dtype: 'f32', shape: [] }], loc: op });
    inferAndSet(g, n, known);
    return n.outputs[0]!;
  };
  const constant = (values: number[], dims = [values.length]) => g.addConstant('c', TensorData.fromValues('i64', dims, values));
  return { g, x, node, constant, known };
}

describe('Reshape', () => {
  it('copies values and resolves 0 and -1', () => {
    const [y] = runOp('Reshape', [f32([2, 3], [1, 2, 3, 4, 5, 6]), i64([2], [3, -1])], {}, 1, [1]);
    expect(y!.dims).toEqual([3, 2]);
    expect(vals(y)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(runOp('Reshape', [f32([2, 3], [1, 2, 3, 4, 5, 6]), i64([2], [0, -1])], {}, 1, [1])[0]!.dims).toEqual([2, 3]);
  });
  it('keeps an empty dim with allowzero', () => {
    const [y] = runOp('Reshape', [f32([0, 3], []), i64([2], [3, 0])], { allowzero: attr.int(1) }, 1, [1]);
    expect(y!.dims).toEqual([3, 0]);
  });
  it('keeps symbols when heads are split: [batch,128,768] -> [0,0,12,64]', () => {
    const [t] = inferOp('Reshape', [sym(['batch', 128, 768]), { data: i64([4], [0, 0, 12, 64]), constant: true }]);
    expect(t!.shape).toEqual(['batch', 128, 12, 64]);
  });
  it('infers -1 when the symbols cancel', () => {
    const [t] = inferOp('Reshape', [sym(['batch', 128, 768]), { data: i64([3], [0, -1, 64]), constant: true }]);
    expect(t!.shape).toEqual(['batch', 1536, 64]);
    const [u] = inferOp('Reshape', [sym(['batch', 128, 12, 64]), { data: i64([3], [0, 0, -1]), constant: true }]);
    expect(u!.shape).toEqual(['batch', 128, 768]);
  });
  it('uses a fresh symbol for a -1 that cannot be written', () => {
    const [t] = inferOp('Reshape', [sym(['batch', 'seq', 768]), { data: i64([2], [-1, 768]), constant: true }]);
    expect(t!.shape[1]).toBe(768);
    expect(typeof t!.shape[0]).toBe('string');
  });
  it('gives the right rank of fresh dims for an unknown shape of static length', () => {
    const [t] = inferOp('Reshape', [sym([2, 3]), { type: { dtype: 'i64', shape: [3] } }]);
    expect(t!.shape).toHaveLength(3);
  });
  it('follows a shape computed at run time (Shape -> Gather -> Unsqueeze -> Concat)', () => {
    const b = graph(['batch', 128, 768]);
    const shape = b.node('Shape', [b.x]);
    const batch = b.node('Gather', [shape, b.constant([0], [])], { axis: attr.int(0) });
    const batch1 = b.node('Unsqueeze', [batch, b.constant([0])]);
    const target = b.node('Concat', [batch1, b.constant([128, 12, 64])], { axis: attr.int(0) });
    expect(b.known.get(target)).toEqual(['batch', 128, 12, 64]);
    const y = b.node('Reshape', [b.x, target]);
    expect(y.type.shape).toEqual(['batch', 128, 12, 64]);
  });
  it('rejects a shape with the wrong element count', () => {
    expect(() => inferOp('Reshape', [sym([2, 3]), { data: i64([2], [4, 2]), constant: true }])).toThrow(/cannot reshape \[2,3\]/);
    expect(() => inferOp('Reshape', [sym([2, 3]), { data: i64([2], [-1, -1]), constant: true }])).toThrow(/more than one -1/);
  });
});

describe('Flatten / Transpose / Squeeze / Unsqueeze', () => {
  it('flattens around an axis, symbolically too', () => {
    expect(runOp('Flatten', [f32([2, 3, 4], new Array(24).fill(0))], { axis: attr.int(-1) })[0]!.dims).toEqual([6, 4]);
    expect(inferOp('Flatten', [sym(['batch', 3, 4])])[0]!.shape).toEqual(['batch', 12]);
    expect(() => inferOp('Flatten', [sym([2, 3])], { axis: attr.int(3) })).toThrow(/axis 3 is out of range/);
  });
  it('transposes values', () => {
    const [y] = runOp('Transpose', [f32([2, 3], [1, 2, 3, 4, 5, 6])]);
    expect(y!.dims).toEqual([3, 2]);
    expect(vals(y)).toEqual([1, 4, 2, 5, 3, 6]);
    const [z] = runOp('Transpose', [f32([1, 2, 3], [1, 2, 3, 4, 5, 6])], { perm: attr.ints([2, 0, 1]) });
    expect(z!.dims).toEqual([3, 1, 2]);
    expect(vals(z)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(() => inferOp('Transpose', [sym([2, 3])], { perm: attr.ints([0, 0]) })).toThrow(/not a permutation/);
  });
  it('squeezes and unsqueezes', () => {
    expect(inferOp('Squeeze', [sym(['batch', 1, 4]), { data: i64([1], [-2]), constant: true }])[0]!.shape).toEqual(['batch', 4]);
    expect(runOp('Squeeze', [f32([1, 2, 1], [5, 6])])[0]!.dims).toEqual([2]);
    expect(inferOp('Unsqueeze', [sym(['batch', 4]), { data: i64([2], [0, -1]), constant: true }])[0]!.shape).toEqual([1, 'batch', 4, 1]);
    expect(() => inferOp('Squeeze', [sym([2, 3]), { data: i64([1], [0]), constant: true }])).toThrow(/axis 0 has size 2, not 1/);
  });
});

describe('Concat / Split', () => {
  it('concatenates along an axis', () => {
    const [y] = runOp('Concat', [f32([2, 1], [1, 2]), f32([2, 2], [3, 4, 5, 6])], { axis: attr.int(1) });
    expect(y!.dims).toEqual([2, 3]);
    expect(vals(y)).toEqual([1, 3, 4, 2, 5, 6]);
    expect(() => inferOp('Concat', [sym([2, 1]), sym([3, 1])], { axis: attr.int(1) })).toThrow(/incompatible/);
    const [t] = inferOp('Concat', [sym(['batch', 4]), sym(['batch', 'past'])], { axis: attr.int(1) });
    expect(t!.shape[0]).toBe('batch');
  });
  it('splits by sizes, and into num_outputs parts with a smaller last part', () => {
    const x = f32([5], [1, 2, 3, 4, 5]);
    const parts = runOp('Split', [x, i64([2], [2, 3])], {}, 2, [1]);
    expect(parts.map(vals)).toEqual([[1, 2], [3, 4, 5]]);
    const eq = runOp('Split', [x], { num_outputs: attr.int(3) }, 3);
    expect(eq.map(vals)).toEqual([[1, 2], [3, 4], [5]]);
    expect(() => inferOp('Split', [sym([5]), { data: i64([2], [2, 2]), constant: true }], {}, 2)).toThrow(/sums to 4/);
  });
});

describe('Slice', () => {
  it('slices with negative steps and clamped bounds', () => {
    const x = f32([5], [0, 1, 2, 3, 4]);
    expect(vals(runOp('Slice', [x, i64([1], [-1]), i64([1], [-I64_MAX]), i64([1], [0]), i64([1], [-2])], {}, 1, [1, 2, 3, 4])[0])).toEqual([4, 2, 0]);
    expect(vals(runOp('Slice', [x, i64([1], [1]), i64([1], [1000])], {}, 1, [1, 2])[0])).toEqual([1, 2, 3, 4]);
    expect(vals(runOp('Slice', [x, i64([1], [10]), i64([1], [20])], {}, 1, [1, 2])[0])).toEqual([]);
  });
  it('keeps a symbol sliced to its end and propagates shape values', () => {
    const [t] = inferOp('Slice', [sym(['batch', 'seq', 768]), { data: i64([1], [0]), constant: true }, { data: i64([1], [I64_MAX]), constant: true }, { data: i64([1], [1]), constant: true }]);
    expect(t!.shape).toEqual(['batch', 'seq', 768]);
    const b = graph(['batch', 'seq', 768]);
    const sl = b.node('Slice', [b.node('Shape', [b.x]), b.constant([0]), b.constant([2])]);
    expect(b.known.get(sl)).toEqual(['batch', 'seq']);
  });
  it('rejects a zero step', () => {
    expect(() => runOp('Slice', [f32([2], [1, 2]), i64([1], [0]), i64([1], [2]), i64([1], [0]), i64([1], [0])], {}, 1, [1, 2, 3, 4])).toThrow(/steps must not be 0/);
  });
});

describe('Expand / Tile', () => {
  it('expands bidirectionally', () => {
    const [y] = runOp('Expand', [f32([3, 1], [1, 2, 3]), i64([2], [1, 2])], {}, 1, [1]);
    expect(y!.dims).toEqual([3, 2]);
    expect(vals(y)).toEqual([1, 1, 2, 2, 3, 3]);
    expect(inferOp('Expand', [sym([1, 4]), { data: i64([3], [2, 3, 1]), constant: true }])[0]!.shape).toEqual([2, 3, 4]);
    const b = graph(['batch', 'seq', 4]);
    const y2 = b.node('Expand', [b.g.addInput('m', { dtype: 'f32', shape: [1, 1, 1] }), b.node('Shape', [b.x])]);
    expect(y2.type.shape).toEqual(['batch', 'seq', 4]);
    expect(() => inferOp('Expand', [sym([2, 4]), { data: i64([2], [3, 4]), constant: true }])).toThrow(/do not broadcast/);
  });
  it('tiles', () => {
    const [y] = runOp('Tile', [f32([1, 2], [1, 2]), i64([2], [2, 2])], {}, 1, [1]);
    expect(y!.dims).toEqual([2, 4]);
    expect(vals(y)).toEqual([1, 2, 1, 2, 1, 2, 1, 2]);
  });
});

describe('Pad', () => {
  const x = f32([3], [1, 2, 3]);
  const pad = (mode: string, pads: number[], value?: number) =>
    vals(runOp('Pad', [x, i64([2], pads), value === undefined ? null : f32([], [value])], { mode: attr.string(mode) }, 1, [1])[0]);
  it('pads in each mode', () => {
    expect(pad('constant', [2, 2], 9)).toEqual([9, 9, 1, 2, 3, 9, 9]);
    expect(pad('reflect', [2, 2])).toEqual([3, 2, 1, 2, 3, 2, 1]);
    expect(pad('edge', [2, 2])).toEqual([1, 1, 1, 2, 3, 3, 3]);
    expect(pad('wrap', [2, 2])).toEqual([2, 3, 1, 2, 3, 1, 2]);
  });
  it('crops with negative pads and pads only the listed axes', () => {
    expect(pad('constant', [-1, 1])).toEqual([2, 3, 0]);
    const [y] = runOp('Pad', [f32([2, 2], [1, 2, 3, 4]), i64([2], [1, 0]), null, i64([1], [-1])], {}, 1, [1, 3]);
    expect(y!.dims).toEqual([2, 3]);
    expect(vals(y)).toEqual([0, 1, 2, 0, 3, 4]);
  });
  it('keeps symbols on unpadded axes and rejects unknown modes', () => {
    expect(inferOp('Pad', [sym(['batch', 4]), { data: i64([4], [0, 1, 0, 1]), constant: true }])[0]!.shape).toEqual(['batch', 6]);
    expect(() => inferOp('Pad', [sym([2]), { data: i64([2], [1, 1]), constant: true }], { mode: attr.string('mirror') })).toThrow(/mode 'mirror'/);
  });
});

describe('block rearrangements and others', () => {
  const x8 = f32([1, 8, 1, 1], [0, 1, 2, 3, 4, 5, 6, 7]);
  it('DepthToSpace in DCR and CRD order, and SpaceToDepth inverts it', () => {
    const [dcr] = runOp('DepthToSpace', [x8], { blocksize: attr.int(2) });
    expect(dcr!.dims).toEqual([1, 2, 2, 2]);
    expect(vals(dcr)).toEqual([0, 2, 4, 6, 1, 3, 5, 7]);
    const [crd] = runOp('DepthToSpace', [x8], { blocksize: attr.int(2), mode: attr.string('CRD') });
    expect(vals(crd)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(vals(runOp('SpaceToDepth', [dcr!], { blocksize: attr.int(2) })[0])).toEqual(vals(x8));
    expect(vals(runOp('SpaceToDepth', [crd!], { blocksize: attr.int(2), mode: attr.string('CRD') })[0])).toEqual(vals(x8));
    expect(() => inferOp('DepthToSpace', [sym([1, 6, 2, 2])], { blocksize: attr.int(2) })).toThrow(/not divisible/);
  });
  it('Trilu keeps the upper or lower triangle', () => {
    const m = f32([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(vals(runOp('Trilu', [m])[0])).toEqual([1, 2, 3, 0, 5, 6]);
    expect(vals(runOp('Trilu', [m, i64([], [1])], { upper: attr.int(0) })[0])).toEqual([1, 2, 0, 4, 5, 6]);
  });
  it('ReverseSequence reverses each batch entry up to its length', () => {
    const [y] = runOp('ReverseSequence', [f32([4, 2], [0, 1, 2, 3, 4, 5, 6, 7]), i64([2], [3, 1])], { time_axis: attr.int(0), batch_axis: attr.int(1) });
    expect(vals(y)).toEqual([4, 1, 2, 3, 0, 5, 6, 7]);
  });
  it('CenterCropPad crops and pads around the centre', () => {
    expect(vals(runOp('CenterCropPad', [f32([5], [0, 1, 2, 3, 4]), i64([1], [3])], {}, 1, [1])[0])).toEqual([1, 2, 3]);
    expect(vals(runOp('CenterCropPad', [f32([2], [1, 2]), i64([1], [5])], {}, 1, [1])[0])).toEqual([0, 1, 2, 0, 0]);
  });
  it('Col2Im sums overlapping blocks', () => {
    // 1 channel, 1-D image of 3 pixels, blocks of 2 at stride 1: two blocks overlap at pixel 1.
    const [y] = runOp('Col2Im', [f32([1, 2, 2], [1, 2, 10, 20]), i64([1], [3]), i64([1], [2])], {}, 1, [1, 2]);
    expect(y!.dims).toEqual([1, 1, 3]);
    expect(vals(y)).toEqual([1, 12, 20]);
  });
});
