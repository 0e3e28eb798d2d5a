// Elementwise and broadcast ops: values against numbers checked with numpy/onnx.reference, dtype
// rules, shape values tracked through shape arithmetic, and the lowerings of older ONNX forms.

import { describe, expect, it } from 'vitest';
import { Attrs, Graph, attr, type AttrValue, type Value } from '../../compiler/ir/graph.js';
import { inferNode, type ShapeValues } from '../../compiler/ir/infer.js';
import { getOp, type LowerContext } from '../../compiler/ir/ops.js';
import { TensorData } from '../../compiler/ir/tensor.js';
import type { Dim, TensorType } from '../../compiler/ir/types.js';
import { f32, i64, inferOp, runOp } from '../helpers/op-harness.js';

const t = (dtype: TensorData['dtype'], dims: number[], values: number[]) => TensorData.fromValues(dtype, dims, values);
const vals = (x: TensorData | undefined) => Array.from(x!.values);
const run1 = (op: string, inputs: (TensorData | null)[], attrs: Record<string, AttrValue> = {}) => vals(runOp(op, inputs, attrs)[0]);

/** Runs a shape rule with known shape values for some inputs; returns the result's types and values. */
function inferWithValues(op: string, inputs: { type?: TensorType; data?: TensorData; sv?: Dim[] }[], attrs: Record<string, AttrValue> = {}) {
  const g = new Graph('t');
  const known: ShapeValues = new Map();
  const values = inputs.map((s, i) => {
    const v = s.data ? g.addConstant(`in${i}`, s.data) : g.addInput(`in${i}`, s.type!);
    if (s.sv) known.set(v, s.sv);
    return v;
  });
  const node = g.addNode({ op, inputs: values, attrs: Attrs.from(attrs), outputTypes: [{ dtype: 'f32', shape: [] }], loc: 't' });
  return inferNode(g, node, known);
}

/** Calls an op's ONNX lowering with a recording context. */
function lower(op: string, opset: number, inputTypes: TensorType[], attrs: Record<string, AttrValue>, outputCount = 1) {
  const g = new Graph('t');
  const inputs = inputTypes.map((ty, i) => g.addInput(`x${i}`, ty));
  const emitted: { op: string; inputs: (Value | null)[]; attrs: Attrs }[] = [];
  let outputs: (Value | null)[] = [];
  const ctx: LowerContext = {
    opset, opType: op, name: 'n', inputs, attrs: Attrs.from(attrs), outputCount,
    emit(o, ins, a = new Attrs(), n = 1) {
      emitted.push({ op: o, inputs: ins, attrs: a });
      return Array.from({ length: n }, (_, k) => g.newValue(`${o}_${k}`, { dtype: 'f32', shape: [] }));
    },
    constant: (data) => g.addConstant('c', data),
    setOutputs: (v) => void (outputs = v),
  };
  getOp(op)!.onnxLower!(ctx);
  return { emitted, outputs, inputs };
}

describe('unary math', () => {
  it('rounds half to even and keeps the sign of zero', () => {
    const y = run1('Round', [f32([6], [0.5, 1.5, 2.5, -0.5, -1.5, 2.4])]);
    expect(y).toEqual([0, 2, 2, -0, -2, 2]);
    expect(Object.is(y[3], -0)).toBe(true);
  });
  it('computes erf to float64 precision (values from math.erf)', () => {
    const y = run1('Erf', [t('f64', [6], [0.1, 1, 2.5, 3.5, -4, 5.9])]);
    const want = [0.1124629160182849, 0.8427007929497149, 0.999593047982555, 0.9999992569016276, -0.9999999845827421, 0.9999999999999999];
    y.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(2 * Number.EPSILON));
  });
  it('negates bits with wrap-around per dtype', () => {
    expect(run1('BitwiseNot', [t('u8', [3], [0, 5, 255])])).toEqual([255, 250, 0]);
    expect(run1('BitwiseNot', [t('i64', [3], [0, -6, 2 ** 40])])).toEqual([-1, 5, -1099511627777]);
  });
  it('detects infinities by sign', () => {
    const x = f32([4], [Infinity, -Infinity, NaN, 1]);
    expect(run1('IsInf', [x], { detect_negative: attr.int(0) })).toEqual([1, 0, 0, 0]);
    expect(run1('IsNaN', [x])).toEqual([0, 0, 1, 0]);
  });
  it('rejects dtypes outside the ONNX constraints', () => {
    expect(() => inferOp('Sqrt', [i64([2], [1, 4])])).toThrow(/Sqrt does not accept i64/);
    expect(() => inferOp('Not', [f32([1], [1])])).toThrow(/Not does not accept f32/);
    expect(() => inferOp('BitwiseNot', [f32([1], [1])])).toThrow(/BitwiseNot/);
  });
});

describe('activations', () => {
  it('computes Gelu exactly and with the tanh approximation', () => {
    const x = t('f64', [3], [-1, 0.5, 2]);
    const exact = run1('Gelu', [x]);
    const approx = run1('Gelu', [x], { approximate: attr.string('tanh') });
    [-0.15865525393145707, 0.34573123063700656, 1.9544997361036416].forEach((w, i) => expect(exact[i]).toBeCloseTo(w, 14));
    [-0.1588080093917232, 0.34571400982514394, 1.954597694087775].forEach((w, i) => expect(approx[i]).toBeCloseTo(w, 14));
    expect(() => inferOp('Gelu', [x], { approximate: attr.string('erf') })).toThrow(/approximate.*'erf'/);
  });
  it('uses ONNX attribute defaults', () => {
    const x = t('f64', [2], [-1, 1]);
    expect(run1('Selu', [x])[0]).toBeCloseTo(-1.1113307412864784, 14);
    expect(run1('Celu', [x], { alpha: attr.float(2) })[0]).toBeCloseTo(-0.7869386805747332, 14);
    run1('Mish', [x]).forEach((v, i) => expect(v).toBeCloseTo([-0.30340146137410895, 0.8650983882673103][i]!, 14));
    expect(run1('LeakyRelu', [x])).toEqual([-0.01, 1]);
    expect(run1('HardSigmoid', [x])).toEqual([0.3, 0.7]);
    run1('HardSwish', [t('f64', [4], [-4, -1, 1, 4])]).forEach((v, i) => expect(v).toBeCloseTo([0, -1 / 3, 2 / 3, 4][i]!, 15));
    expect(run1('Shrink', [x], { lambd: attr.float(0.5), bias: attr.float(0.25) })).toEqual([-0.75, 0.75]);
    expect(run1('Softplus', [f32([2], [1000, -1000])])).toEqual([1000, 0]);
  });
  it('broadcasts the PRelu slope onto X only', () => {
    const x = f32([1, 2, 2], [-1, 2, -3, 4]);
    expect(run1('PRelu', [x, f32([2, 1], [0.5, 0.25])])).toEqual([-0.5, 2, -0.75, 4]);
    expect(() => inferOp('PRelu', [f32([2], [1, 2]), f32([2, 2], [1, 1, 1, 1])])).toThrow(/slope of shape \[2,2\] does not broadcast to X of shape \[2\]/);
  });
});

describe('binary ops', () => {
  it('wraps and truncates integer arithmetic like the dtype', () => {
    expect(run1('Div', [t('i32', [4], [7, -7, 7, -7]), t('i32', [4], [2, 2, -2, -2])])).toEqual([3, -3, -3, 3]);
    expect(run1('Add', [t('i32', [1], [2147483647]), t('i32', [1], [1])])).toEqual([-2147483648]);
    expect(run1('Mul', [t('i32', [1], [65536]), t('i32', [1], [65537])])).toEqual([65536]);
    expect(run1('Sub', [t('u8', [1], [1]), t('u8', [1], [2])])).toEqual([255]);
  });
  it('computes Mod with floor and fmod semantics', () => {
    const a = t('i8', [6], [-4, 7, 5, 4, -7, 8]);
    const b = t('i8', [6], [2, -3, 8, -2, 3, 5]);
    expect(run1('Mod', [a, b])).toEqual([0, -2, 5, 0, 2, 3]);
    expect(run1('Mod', [a, b], { fmod: attr.int(1) })).toEqual([0, 1, 5, 0, -1, 3]);
    const z = run1('Mod', [f32([4], [0, -3, 1, 5]), f32([4], [-2, Infinity, -Infinity, 0])]);
    expect(Object.is(z[0], -0)).toBe(true);
    expect(z.slice(1, 3)).toEqual([Infinity, -Infinity]);
    expect(z[3]).toBeNaN();
    expect(() => inferOp('Mod', [a, b], { fmod: attr.int(2) })).toThrow(/'fmod' must be 0 or 1, got 2/);
  });
  it('lets Pow mix dtypes and keeps the base dtype', () => {
    const [z] = runOp('Pow', [t('i32', [3], [1, 2, 3]), f32([3], [4, 5, 6])]);
    expect(z!.dtype).toBe('i32');
    expect(vals(z)).toEqual([1, 32, 729]);
    expect(run1('Pow', [f32([2], [4, 2]), t('i64', [1], [-1])])).toEqual([0.25, 0.5]);
    expect(() => inferOp('Pow', [t('u8', [1], [2]), t('u8', [1], [2])])).toThrow(/Pow input 0 has dtype u8; it needs a float type, int32 or int64/);
  });
  it('shifts bits (values from the ONNX opset-28 conformance cases)', () => {
    const left = { direction: attr.string('LEFT') };
    const right = { direction: attr.string('RIGHT') };
    expect(run1('BitShift', [t('i8', [3], [64, 1, -64]), t('i8', [3], [1, 7, 1])], left)).toEqual([-128, -128, -128]);
    expect(run1('BitShift', [t('i8', [3], [-8, 4, -1]), t('i8', [3], [-1, -8, -16])], right)).toEqual([-1, 0, -1]);
    expect(run1('BitShift', [t('u64', [2], [16, 2 ** 40]), t('u64', [1], [2])], right)).toEqual([4, 2 ** 38]);
    expect(() => inferOp('BitShift', [t('u8', [1], [1]), t('u8', [1], [1])], { direction: attr.string('UP') })).toThrow(/direction.*'UP'/);
  });
  it('computes bitwise and logical ops on their dtypes only', () => {
    expect(run1('BitwiseXor', [t('u8', [2], [0xf0, 0xff]), t('u8', [1], [0x3c])])).toEqual([0xcc, 0xc3]);
    expect(run1('BitwiseAnd', [t('i64', [1], [-1]), t('i64', [1], [2 ** 40 + 5])])).toEqual([2 ** 40 + 5]);
    expect(run1('Xor', [t('bool', [2], [1, 0]), t('bool', [2], [1, 1])])).toEqual([0, 1]);
    expect(() => inferOp('And', [f32([1], [1]), f32([1], [1])])).toThrow(/And input 0 has dtype f32; it needs bool/);
    expect(() => inferOp('BitwiseOr', [f32([1], [1]), f32([1], [1])])).toThrow(/needs an integer type/);
  });
  it('compares into bool outputs and rejects mixed dtypes', () => {
    const [y] = runOp('GreaterOrEqual', [f32([3], [1, 2, 3]), f32([], [2])]);
    expect(y!.dtype).toBe('bool');
    expect(vals(y)).toEqual([0, 1, 1]);
    expect(run1('Equal', [t('bool', [2], [1, 0]), t('bool', [1], [0])])).toEqual([0, 1]);
    expect(() => inferOp('Add', [f32([1], [1]), i64([1], [1])])).toThrow(/Add inputs have different dtypes f32 and i64/);
  });
  it('keeps symbolic dims through broadcasting', () => {
    const [ty] = inferOp('Where', [
      { type: { dtype: 'bool', shape: ['batch', 1] } },
      { type: { dtype: 'f16', shape: [1, 'seq'] } },
      { type: { dtype: 'f16', shape: [] } },
    ]);
    expect(ty).toEqual({ dtype: 'f16', shape: ['batch', 'seq'] });
  });
});

describe('variadic ops and Where', () => {
  it('broadcasts any number of inputs', () => {
    const a = f32([2, 1], [1, 5]);
    const b = f32([3], [2, 3, 4]);
    expect(run1('Max', [a, b])).toEqual([2, 3, 4, 5, 5, 5]);
    expect(run1('Min', [a, b, f32([], [3])])).toEqual([1, 1, 1, 2, 3, 3]);
    expect(run1('Sum', [a, b])).toEqual([3, 4, 5, 7, 8, 9]);
    expect(run1('Mean', [a, b])).toEqual([1.5, 2, 2.5, 3.5, 4, 4.5]);
    expect(run1('Sum', [a])).toEqual([1, 5]);
    expect(() => inferOp('Max', [a, i64([1], [1])])).toThrow(/Max input 1 has dtype i64, input 0 has f32/);
    expect(() => inferOp('Mean', [i64([1], [1])])).toThrow(/Mean input 0 has dtype i64; it needs a float type/);
  });
  it('selects with a bool condition', () => {
    expect(run1('Where', [t('bool', [2, 1], [1, 0]), f32([2], [1, 2]), f32([], [9])])).toEqual([1, 2, 9, 9]);
    expect(() => inferOp('Where', [f32([1], [1]), f32([1], [1]), f32([1], [1])])).toThrow(/Where input 0 has dtype f32; it needs bool/);
  });
});

describe('Clip, Cast, Dropout', () => {
  it('clips with omitted bounds and min > max', () => {
    const x = t('i8', [4], [-128, -5, 5, 127]);
    expect(run1('Clip', [x, null, t('i8', [], [6])])).toEqual([-128, -5, 5, 6]);
    expect(run1('Clip', [f32([3], [-2, 0, 2]), f32([], [1]), f32([], [0])])).toEqual([0, 0, 0]);
    expect(run1('Clip', [x])).toEqual([-128, -5, 5, 127]);
    expect(() => inferOp('Clip', [x, t('i8', [2], [0, 1])])).toThrow(/Clip min \(input 1\) must be a scalar, got shape \[2\]/);
    expect(() => inferOp('Clip', [x, f32([], [0])])).toThrow(/Clip min \(input 1\) has dtype f32, input 0 has i8/);
  });
  it('casts with truncation, wrap-around and NaN -> true', () => {
    const x = f32([4], [-1.7, 300.5, NaN, 0]);
    expect(run1('Cast', [x], { to: attr.int(6) }).slice(0, 2)).toEqual([-1, 300]);
    expect(run1('Cast', [t('i32', [1], [300])], { to: attr.int(2) })).toEqual([44]);
    expect(run1('Cast', [x], { to: attr.int(9) })).toEqual([1, 1, 1, 0]);
    const [h] = runOp('CastLike', [t('f64', [1], [1 / 3]), t('f16', [0], [])]);
    expect(h!.dtype).toBe('f16');
    expect(vals(h)).toEqual([0.333251953125]);
    expect(() => inferOp('Cast', [x], { to: attr.int(27) })).toThrow(/'to' is FLOAT6E2M3 \(27\), which is not supported/);
  });
  it('passes data through Dropout with an all-true mask', () => {
    const x = f32([2], [1, 2]);
    const [y, mask] = runOp('Dropout', [x, f32([], [0.3])], {}, 2);
    expect(vals(y)).toEqual([1, 2]);
    expect(mask!.dtype).toBe('bool');
    expect(vals(mask)).toEqual([1, 1]);
    const train = t('bool', [], [1]);
    expect(vals(runOp('Dropout', [x, f32([], [0]), train], {}, 1, [1, 2])[0])).toEqual([1, 2]);
    expect(() => runOp('Dropout', [x, f32([], [0.5]), train], {}, 1, [1, 2])).toThrow(/training_mode=true and ratio 0.5/);
  });
});

describe('linear quantization', () => {
  it('quantizes per tensor with round-half-even and saturation', () => {
    const [q] = runOp('QuantizeLinear', [f32([5], [0, 1.5, 2.5, -300, 300]), f32([], [0.5]), t('i8', [], [10])]);
    expect(q!.dtype).toBe('i8');
    expect(vals(q)).toEqual([10, 13, 15, -128, 127]);
    expect(runOp('QuantizeLinear', [f32([1], [1]), f32([], [1])])[0]!.dtype).toBe('u8');
  });
  it('quantizes per axis and per block', () => {
    const x = f32([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(run1('QuantizeLinear', [x, f32([2], [1, 2]), t('u8', [2], [0, 100])], { axis: attr.int(0) })).toEqual([1, 2, 3, 4, 102, 103, 104, 104]);
    const blocked = run1('QuantizeLinear', [x, f32([2, 2], [1, 2, 4, 8]), t('u8', [2, 2], [0, 0, 0, 0])], { axis: attr.int(1), block_size: attr.int(2) });
    expect(blocked).toEqual([1, 2, 2, 2, 1, 2, 1, 1]);
    expect(() => inferOp('QuantizeLinear', [x, f32([3], [1, 1, 1])])).toThrow(/scale has 3 elements, input dim 1 is 4/);
    expect(() => inferOp('QuantizeLinear', [x, f32([], [1])], { output_dtype: attr.int(27) })).toThrow(/'output_dtype' is FLOAT6E2M3/);
  });
  it('dequantizes per axis', () => {
    const x = t('u8', [1, 2, 2], [0, 10, 128, 255]);
    const [y] = runOp('DequantizeLinear', [x, f32([2], [0.5, 2]), t('u8', [2], [10, 128])]);
    expect(y!.dtype).toBe('f32');
    expect(vals(y)).toEqual([-5, 0, 0, 254]);
    expect(() => inferOp('DequantizeLinear', [x, f32([2], [1, 1]), t('i8', [2], [0, 0])])).toThrow(/zero point has dtype i8, x has u8/);
  });
});

describe('shape values', () => {
  const vec = (shape: Dim[]): TensorType => ({ dtype: 'i64', shape });
  it('does arithmetic on known shapes, keeping symbols where trivial', () => {
    const r = inferWithValues('Mul', [{ type: vec([3]), sv: ['batch', 8, 'seq'] }, { data: i64([3], [1, 2, 1]) }]);
    expect(r.shapeValues?.[0]).toEqual(['batch', 16, 'seq']);
    const s = inferWithValues('Add', [{ type: vec([2]), sv: ['batch', 4] }, { data: i64([], [3]) }]);
    expect(s.shapeValues?.[0]?.[1]).toBe(7);
    expect(typeof s.shapeValues?.[0]?.[0]).toBe('string');
    expect(s.shapeValues?.[0]?.[0]).not.toBe('batch');
    const d = inferWithValues('Div', [{ type: vec([2]), sv: ['n', 12] }, { data: i64([2], [1, 5]) }]);
    expect(d.shapeValues?.[0]).toEqual(['n', 2]);
    expect(inferWithValues('Neg', [{ data: i64([1], [-1]) }]).shapeValues?.[0]).toEqual([1]);
    const m = inferWithValues('Max', [{ type: vec([2]), sv: ['n', 1] }, { data: i64([2], [1, 3]) }]);
    expect(m.shapeValues?.[0]?.[1]).toBe(3);
  });
  it('follows Cast, Equal and Where (reshape targets computed by TorchScript)', () => {
    const c = inferWithValues('Cast', [{ type: vec([2]), sv: ['batch', 5] }], { to: attr.int(6) });
    expect(c.types[0]!.dtype).toBe('i32');
    expect(c.shapeValues?.[0]).toEqual(['batch', 5]);
    const e = inferWithValues('Equal', [{ data: i64([3], [2, -1, 4]) }, { data: i64([], [-1]) }]);
    expect(e.shapeValues?.[0]).toEqual([0, 1, 0]);
    const w = inferWithValues('Where', [
      { data: t('bool', [3], [0, 1, 0]) }, { data: i64([3], [1, 1, 1]) }, { type: vec([3]), sv: ['b', -1, 4] },
    ]);
    expect(w.shapeValues?.[0]).toEqual(['b', 1, 4]);
    expect(inferWithValues('Equal', [{ type: vec([1]), sv: ['b'] }, { data: i64([1], [-1]) }]).shapeValues).toBeUndefined();
  });
});

describe('ONNX lowerings', () => {
  it('reshapes B for opset<7 broadcast with axis and drops the legacy attributes', () => {
    const { emitted } = lower('Add', 6, [{ dtype: 'f32', shape: [2, 3, 4, 5] }, { dtype: 'f32', shape: [3, 'k'] }], {
      broadcast: attr.int(1), axis: attr.int(1), consumed_inputs: attr.ints([0, 0]),
    });
    expect(emitted.map((e) => e.op)).toEqual(['Reshape', 'Add']);
    expect(Array.from(emitted[0]!.inputs[1]!.constant!.values)).toEqual([0, 0, 1]);
    expect(emitted[1]!.attrs.size).toBe(0);
    const plain = lower('Mul', 13, [{ dtype: 'f32', shape: [2] }, { dtype: 'f32', shape: [2] }], {});
    expect(plain.emitted.map((e) => e.op)).toEqual(['Mul']);
  });
  it('turns opset<11 Clip attributes into constant inputs of the input dtype', () => {
    const { emitted } = lower('Clip', 6, [{ dtype: 'f16', shape: [4] }], { max: attr.float(6) });
    const [node] = emitted;
    expect(node!.inputs[1]).toBeNull();
    expect(node!.inputs[2]!.constant!.dtype).toBe('f16');
    expect(Array.from(node!.inputs[2]!.constant!.values)).toEqual([6]);
    expect(node!.attrs.has('max')).toBe(false);
  });
  it('casts the opset<10 Dropout mask to the data dtype', () => {
    const { emitted, outputs } = lower('Dropout', 7, [{ dtype: 'f32', shape: [2] }], { ratio: attr.float(0.2) }, 2);
    expect(emitted.map((e) => e.op)).toEqual(['Dropout', 'Cast']);
    expect(emitted[0]!.attrs.size).toBe(0);
    expect(emitted[1]!.attrs.int('to')).toBe(1);
    expect(outputs).toHaveLength(2);
  });
  it('maps the opset-1 Cast type name to its code', () => {
    const { emitted } = lower('Cast', 1, [{ dtype: 'f32', shape: [2] }], { to: attr.string('INT64') });
    expect(emitted[0]!.attrs.int('to')).toBe(7);
  });
});
