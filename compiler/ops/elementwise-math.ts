// Unary elementwise ops: math functions, rounding, predicates (IsNaN, IsInf), logical and bitwise
// negation, and the activation functions including PRelu, whose slope broadcasts onto the input.

import { isFloat, isInteger, roundHalfEven, roundTo } from '../ir/dtype.js';
import type { Attrs } from '../ir/graph.js';
import { defineOp } from '../ir/ops.js';
import type { TensorType } from '../ir/types.js';
import { OpError, anyNumeric, broadcastMap, broadcastShapes, defineUnary, requireInput, TensorData } from './common.js';
import { checkDtype, describeDtypes, dropConsumedInputs, isBool, shapeValueMap, signedNumeric } from './elementwise.js';

const floatOnly = { dtypes: isFloat };
const floatLegacy = { dtypes: isFloat, onnxLower: dropConsumedInputs };

/**
 * erf in float64 to within 2 ulp: the series erf(x) = 2/sqrt(pi) e^(-x^2) sum 2^n x^(2n+1) / (2n+1)!!
 * has only positive terms (no cancellation) for small |x|; beyond 1.5, 1 - erfc from erfc's continued
 * fraction is more accurate.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  if (ax < 1.5) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (2 * ax * ax) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
  }
  return Math.sign(x) * (1 - erfcLarge(ax));
}

/** erfc(x) for x >= 1.5 by the continued fraction x + (1/2)/(x + 1/(x + (3/2)/(x + ...))), evaluated by Lentz. */
function erfcLarge(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 2000; n++) {
    const a = n / 2;
    d = x + a * d;
    d = d === 0 ? 1 / tiny : 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
/** log(1 + e^x) without overflow for large x. */
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

// Math functions.
defineUnary('Abs', (x) => Math.abs(x), { dtypes: anyNumeric, onnxLower: dropConsumedInputs });
// Neg keeps known shape values: expanded ONNX functions negate axes to get counts (LayerNormalization).
defineOp({
  name: 'Neg',
  fusionClass: 'elementwise',
  inputs: [1, 1],
  outputs: [1, 1],
  onnxLower: dropConsumedInputs,
  infer(ctx) {
    const x = ctx.input(0);
    checkDtype('Neg', 0, x, signedNumeric, describeDtypes(signedNumeric));
    const sv = x.dtype === 'i64' || x.dtype === 'i32'
      ? shapeValueMap(ctx, [0], x, true, ([v]) => (typeof v === 'number' ? roundTo(x.dtype, -v) : undefined))
      : undefined;
    return sv ? { types: [x], shapeValues: [sv] } : [x];
  },
  evaluate(inputs) {
    const x = requireInput(inputs, 0, 'Neg');
    return [TensorData.fromValues(x.dtype, x.dims, Array.from(x.values, (v) => -v))];
  },
});
defineUnary('Sign', (x) => (x > 0 ? 1 : x < 0 ? -1 : x), { dtypes: anyNumeric, onnxSince: 9 });
defineUnary('Ceil', (x) => Math.ceil(x), floatLegacy);
defineUnary('Floor', (x) => Math.floor(x), floatLegacy);
defineUnary('Round', (x) => roundHalfEven(x), { ...floatOnly, onnxSince: 11 });
defineUnary('Exp', (x) => Math.exp(x), floatLegacy);
defineUnary('Log', (x) => Math.log(x), floatLegacy);
defineUnary('Sqrt', (x) => Math.sqrt(x), floatLegacy);
defineUnary('Reciprocal', (x) => 1 / x, floatLegacy);
defineUnary('Erf', erf, { dtypes: anyNumeric, onnxSince: 9 });
defineUnary('Sin', (x) => Math.sin(x), { ...floatOnly, onnxSince: 7 });
defineUnary('Cos', (x) => Math.cos(x), { ...floatOnly, onnxSince: 7 });
defineUnary('Tan', (x) => Math.tan(x), { ...floatOnly, onnxSince: 7 });
defineUnary('Asin', (x) => Math.asin(x), { ...floatOnly, onnxSince: 7 });
defineUnary('Acos', (x) => Math.acos(x), { ...floatOnly, onnxSince: 7 });
defineUnary('Atan', (x) => Math.atan(x), { ...floatOnly, onnxSince: 7 });
defineUnary('Sinh', (x) => Math.sinh(x), { ...floatOnly, onnxSince: 9 });
defineUnary('Cosh', (x) => Math.cosh(x), { ...floatOnly, onnxSince: 9 });
defineUnary('Tanh', (x) => Math.tanh(x), floatLegacy);
defineUnary('Asinh', (x) => Math.asinh(x), { ...floatOnly, onnxSince: 9 });
defineUnary('Acosh', (x) => Math.acosh(x), { ...floatOnly, onnxSince: 9 });
defineUnary('Atanh', (x) => Math.atanh(x), { ...floatOnly, onnxSince: 9 });

// Predicates and negations.
defineUnary('IsNaN', (x) => (Number.isNaN(x) ? 1 : 0), { dtypes: isFloat, outDtype: 'bool', onnxSince: 9 });
defineUnary(
  'IsInf',
  (x, attrs) =>
    (x === Infinity && attrs.int('detect_positive', 1) !== 0) || (x === -Infinity && attrs.int('detect_negative', 1) !== 0) ? 1 : 0,
  { dtypes: isFloat, outDtype: 'bool', onnxSince: 10 },
);
defineUnary('Not', (x) => (x === 0 ? 1 : 0), { dtypes: isBool });
// -x - 1 is ~x in two's complement; rounding to the dtype wraps it for unsigned types.
defineUnary('BitwiseNot', (x) => -x - 1, { dtypes: isInteger, onnxSince: 18 });

// Activations. Attribute defaults are ONNX's; float attributes arrive already rounded to float32.
defineUnary('Sigmoid', sigmoid, floatLegacy);
defineUnary('LeakyRelu', (x, a) => (x >= 0 ? x : a.float('alpha', 0.01) * x), floatLegacy);
defineUnary('Elu', (x, a) => (x >= 0 ? x : a.float('alpha', 1) * Math.expm1(x)), floatLegacy);
defineUnary(
  'Selu',
  (x, a) => a.float('gamma', 1.05070102214813232421875) * (x > 0 ? x : a.float('alpha', 1.67326319217681884765625) * Math.expm1(x)),
  floatLegacy,
);
defineUnary(
  'Celu',
  (x, a) => {
    const alpha = a.float('alpha', 1);
    return Math.max(0, x) + Math.min(0, alpha * Math.expm1(x / alpha));
  },
  { ...floatOnly, onnxSince: 12 },
);
defineUnary('ThresholdedRelu', (x, a) => (x > a.float('alpha', 1) ? x : 0), { ...floatOnly, onnxSince: 10 });
defineUnary(
  'HardSigmoid',
  (x, a) => Math.max(0, Math.min(1, a.float('alpha', 0.2) * x + a.float('beta', 0.5))),
  floatLegacy,
);
defineUnary('HardSwish', (x) => x * Math.max(0, Math.min(1, x / 6 + 0.5)), { ...floatOnly, onnxSince: 14 });
defineUnary('Softplus', softplus, floatOnly);
defineUnary('Softsign', (x) => x / (1 + Math.abs(x)), floatOnly);
defineUnary('Mish', (x) => x * Math.tanh(softplus(x)), { ...floatOnly, onnxSince: 18 });
defineUnary('Swish', (x, a) => x * sigmoid(a.float('alpha', 1) * x), { ...floatOnly, onnxSince: 24 });

function geluApproximation(a: Attrs): 'none' | 'tanh' {
  const mode = a.string('approximate', 'none');
  if (mode !== 'none' && mode !== 'tanh') throw new OpError(`Gelu attribute 'approximate' must be 'none' or 'tanh', got '${mode}'`);
  return mode;
}

const GELU_TANH_K = Math.sqrt(2 / Math.PI);
defineOp({
  name: 'Gelu',
  fusionClass: 'elementwise',
  inputs: [1, 1],
  outputs: [1, 1],
  onnxSince: 20,
  infer(ctx) {
    const x = ctx.input(0);
    checkDtype('Gelu', 0, x, isFloat, describeDtypes(isFloat));
    geluApproximation(ctx.attrs);
    return [x];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'Gelu');
    const tanh = geluApproximation(attrs) === 'tanh';
    const v = x.values;
    const r = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const t = v[i]!;
      r[i] = tanh ? 0.5 * t * (1 + Math.tanh(GELU_TANH_K * (t + 0.044715 * t * t * t))) : 0.5 * t * (1 + erf(t / Math.SQRT2));
    }
    return [TensorData.fromValues(x.dtype, x.dims, r)];
  },
});

defineUnary(
  'Shrink',
  (x, a) => {
    const lambd = a.float('lambd', 0.5);
    const bias = a.float('bias', 0);
    return x < -lambd ? x + bias : x > lambd ? x - bias : 0;
  },
  { dtypes: anyNumeric, onnxSince: 9 },
);

/**
 * PRelu's slope broadcasts onto X (unidirectionally). Before opset 7 a 1-D slope was per channel
 * (axis 1), so it is reshaped to [C, 1, ...] to line up under numpy broadcasting.
 */
defineOp({
  name: 'PRelu',
  fusionClass: 'broadcast',
  inputs: [2, 2],
  outputs: [1, 1],
  onnxLower(ctx) {
    const attrs = ctx.attrs.with('consumed_inputs', undefined);
    const [x, slope] = ctx.inputs;
    const inputs = [...ctx.inputs];
    if (ctx.opset < 7 && x && slope && slope.type.shape.length === 1 && slope.type.shape[0] !== 1 && x.type.shape.length > 2) {
      const shape = [0, ...new Array<number>(x.type.shape.length - 2).fill(1)];
      inputs[1] = ctx.emit('Reshape', [slope, ctx.constant(TensorData.fromValues('i64', [shape.length], shape))])[0]!;
    }
    ctx.setOutputs(ctx.emit('PRelu', inputs, attrs, ctx.outputCount));
  },
  infer(ctx) {
    const x = ctx.input(0);
    const slope = ctx.input(1);
    checkDtype('PRelu', 0, x, anyNumeric, describeDtypes(anyNumeric));
    if (slope.dtype !== x.dtype) throw new OpError(`PRelu slope has dtype ${slope.dtype}, X has ${x.dtype}`);
    const b = broadcastShapes([x.shape, slope.shape]);
    const unidirectional = b.length === x.shape.length && b.every((d, k) => typeof x.shape[k] !== 'number' || d === x.shape[k]);
    if (!unidirectional) {
      throw new OpError(`PRelu slope of shape [${slope.shape.join(',')}] does not broadcast to X of shape [${x.shape.join(',')}]`);
    }
    const out: TensorType = { dtype: x.dtype, shape: x.shape };
    return [out];
  },
  evaluate(inputs) {
    const x = requireInput(inputs, 0, 'PRelu');
    const slope = requireInput(inputs, 1, 'PRelu');
    return [broadcastMap([x, slope], x.dtype, ([v, s]) => (v! < 0 ? s! * v! : v!))];
  },
});
