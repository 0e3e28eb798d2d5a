// Broadcasting elementwise ops: binary arithmetic, comparisons, logic and bitwise ops, the variadic
// Max/Min/Sum/Mean and Where, plus the helpers the other elementwise-*.ts files share (dtype checks,
// the lowering of opset<7 `broadcast`/`axis` attributes, arithmetic on known shape values).

import { isFloat, isInteger, roundTo, type DType } from '../ir/dtype.js';
import { defineOp, type InferContext, type OnnxLowering } from '../ir/ops.js';
import type { Dim, TensorType } from '../ir/types.js';
import {
  Attrs, OpError, TensorData, anyNumeric, broadcastMap, broadcastShapes, defineUnary, normalizeAxis, requireInput,
} from './common.js';

export const isSignedInt = (d: DType) => d === 'i8' || d === 'i16' || d === 'i32' || d === 'i64';
export const isBool = (d: DType) => d === 'bool';
/** Types ONNX allows for signed arithmetic (Neg, Abs on signed, Relu, ...). */
export const signedNumeric = (d: DType) => isFloat(d) || isSignedInt(d);

/** Throws unless input `i` of `op` has a dtype accepted by `ok`; `want` describes the accepted types. */
export function checkDtype(op: string, i: number, t: TensorType, ok: (d: DType) => boolean, want: string): void {
  if (!ok(t.dtype)) throw new OpError(`${op} input ${i} has dtype ${t.dtype}; it needs ${want}`);
}

export function describeDtypes(ok: (d: DType) => boolean): string {
  if (ok === isFloat) return 'a float type';
  if (ok === isInteger) return 'an integer type';
  if (ok === isBool) return 'bool';
  if (ok === anyNumeric) return 'a numeric type';
  if (ok === signedNumeric) return 'a float or signed integer type';
  return 'a different type';
}

/** Lowering that drops attributes older opsets carried without meaning for the IR form. */
export function dropAttrs(names: readonly string[]): OnnxLowering {
  return (ctx) => {
    let attrs = ctx.attrs;
    for (const n of names) attrs = attrs.with(n, undefined);
    ctx.setOutputs(ctx.emit(ctx.opType, [...ctx.inputs], attrs, ctx.outputCount));
  };
}

export const dropConsumedInputs = dropAttrs(['consumed_inputs']);

/**
 * Opset<7 binary ops broadcast only B onto A, and with `axis` B's dims line up with A's starting at
 * `axis` instead of at the end; reshaping B to append trailing 1s turns that into numpy broadcasting.
 */
export const legacyBroadcast: OnnxLowering = (ctx) => {
  const attrs = ctx.attrs.with('consumed_inputs', undefined).with('broadcast', undefined).with('axis', undefined);
  const inputs = [...ctx.inputs];
  const a = inputs[0];
  const b = inputs[1];
  if (ctx.opset < 7 && ctx.attrs.int('broadcast', 0) === 1 && ctx.attrs.has('axis') && a && b) {
    const rankA = a.type.shape.length;
    const rankB = b.type.shape.length;
    const axis = normalizeAxis(ctx.attrs.int('axis'), rankA, 'axis');
    if (axis + rankB > rankA) {
      throw new OpError(`axis ${ctx.attrs.int('axis')} with second input of rank ${rankB} exceeds the first input's rank ${rankA}`);
    }
    const trailing = rankA - axis - rankB;
    if (trailing > 0 && rankB > 0) {
      // Reshape's 0 copies the input dim, so symbolic dims of B survive.
      const shape = [...new Array<number>(rankB).fill(0), ...new Array<number>(trailing).fill(1)];
      inputs[1] = ctx.emit('Reshape', [b, ctx.constant(TensorData.fromValues('i64', [shape.length], shape))], new Attrs())[0]!;
    }
  }
  ctx.setOutputs(ctx.emit(ctx.opType, inputs, attrs, ctx.outputCount));
};

/**
 * Known contents of the output of an elementwise op over rank-0/1 integer inputs whose contents are
 * known. `f` gives an element or undefined when it is not known at compile time; such elements become
 * fresh symbols when `fresh` is set, else the whole result is unknown.
 */
export function shapeValueMap(
  ctx: InferContext, inputs: readonly number[], out: TensorType, fresh: boolean, f: (args: Dim[]) => Dim | undefined,
): Dim[] | undefined {
  if (out.shape.length > 1) return undefined;
  const vals: Dim[][] = [];
  for (const i of inputs) {
    const v = ctx.shapeValue(i);
    if (!v) return undefined;
    vals.push(v);
  }
  let len = 1;
  for (const v of vals) {
    if (v.length === 1) continue;
    if (len === 1) len = v.length;
    else if (len !== v.length) return undefined;
  }
  const res: Dim[] = [];
  for (let k = 0; k < len; k++) {
    const r = f(vals.map((v) => (v.length === 1 ? v[0]! : v[k]!)));
    if (r !== undefined) res.push(r);
    else if (fresh) res.push(ctx.freshDim());
    else return undefined;
  }
  return res;
}

const isShapeInt = (d: DType) => d === 'i64' || d === 'i32';

type DimRule = (a: Dim, b: Dim, dtype: DType) => Dim | undefined;

function numeric(f: (a: number, b: number) => number): DimRule {
  return (a, b, dtype) => (typeof a === 'number' && typeof b === 'number' ? roundTo(dtype, f(a, b)) : undefined);
}

const DIM_RULES: Record<string, DimRule> = {
  Add: (a, b, d) => (b === 0 ? a : a === 0 ? b : numeric((x, y) => x + y)(a, b, d)),
  Sub: (a, b, d) => (b === 0 ? a : a === b ? 0 : numeric((x, y) => x - y)(a, b, d)),
  Mul: (a, b, d) =>
    b === 1 ? a : a === 1 ? b : a === 0 || b === 0 ? 0 : numeric((x, y) => (d === 'i32' ? Math.imul(x, y) : x * y))(a, b, d),
  Div: (a, b, d) => (b === 1 ? a : a === b && b !== 0 ? 1 : b === 0 ? undefined : numeric((x, y) => Math.trunc(x / y))(a, b, d)),
  Max: (a, b, d) => (a === b ? a : numeric(Math.max)(a, b, d)),
  Min: (a, b, d) => (a === b ? a : numeric(Math.min)(a, b, d)),
};

interface BinarySpec {
  /** Scalar function; `dtype` is the dtype of input 0. */
  f: (x: number, y: number, dtype: DType, attrs: Attrs) => number;
  dtypes: (d: DType) => boolean;
  /** Description of `dtypes` for diagnostics, when describeDtypes does not know it. */
  want?: string;
  /** Output dtype when it is not input 0's. */
  out?: DType;
  /** Whether input 1 may have a dtype other than input 0's (Pow). */
  mixed?: (d: DType) => boolean;
  onnxSince?: number;
  onnxLower?: OnnxLowering;
  check?: (attrs: Attrs, dtype: DType) => void;
}

function defineBinaryOp(name: string, spec: BinarySpec): void {
  const rule = DIM_RULES[name];
  defineOp({
    name,
    fusionClass: 'broadcast',
    inputs: [2, 2],
    outputs: [1, 1],
    onnxSince: spec.onnxSince,
    onnxLower: spec.onnxLower ?? legacyBroadcast,
    infer(ctx) {
      const a = ctx.input(0);
      const b = ctx.input(1);
      checkDtype(name, 0, a, spec.dtypes, spec.want ?? describeDtypes(spec.dtypes));
      if (spec.mixed) checkDtype(name, 1, b, spec.mixed, describeDtypes(spec.mixed));
      else if (a.dtype !== b.dtype) throw new OpError(`${name} inputs have different dtypes ${a.dtype} and ${b.dtype}`);
      spec.check?.(ctx.attrs, a.dtype);
      const type: TensorType = { dtype: spec.out ?? a.dtype, shape: broadcastShapes([a.shape, b.shape]) };
      let sv: Dim[] | undefined;
      if (rule && isShapeInt(a.dtype)) sv = shapeValueMap(ctx, [0, 1], type, true, ([x, y]) => rule(x!, y!, a.dtype));
      if (name === 'Equal') {
        sv = shapeValueMap(ctx, [0, 1], type, false, ([x, y]) =>
          x === y ? 1 : typeof x === 'number' && typeof y === 'number' ? 0 : undefined);
      }
      return sv ? { types: [type], shapeValues: [sv] } : [type];
    },
    evaluate(inputs, attrs) {
      const a = requireInput(inputs, 0, name);
      const b = requireInput(inputs, 1, name);
      spec.check?.(attrs, a.dtype);
      return [broadcastMap([a, b], spec.out ?? a.dtype, ([x, y]) => spec.f(x!, y!, a.dtype, attrs))];
    },
  });
}

defineBinaryOp('Add', { f: (x, y) => x + y, dtypes: anyNumeric });
defineBinaryOp('Sub', { f: (x, y) => x - y, dtypes: anyNumeric });
defineBinaryOp('Mul', {
  // 32-bit products can exceed 2^53; imul keeps the low bits exact before wrapping.
  f: (x, y, d) => (d === 'i32' || d === 'u32' ? Math.imul(x, y) : x * y),
  dtypes: anyNumeric,
});
defineBinaryOp('Div', {
  f: (x, y, d) => (isInteger(d) ? (y === 0 ? 0 : Math.trunc(x / y)) : x / y),
  dtypes: anyNumeric,
});
defineBinaryOp('Pow', {
  // Integer bases truncate the float result (ONNX Pow(int32, float) -> int32).
  f: (x, y) => Math.pow(x, y),
  dtypes: (d) => isFloat(d) || d === 'i32' || d === 'i64',
  want: 'a float type, int32 or int64',
  mixed: anyNumeric,
});

function floorMod(x: number, y: number): number {
  let r = x % y;
  if (r === 0) return y < 0 ? -0 : 0;
  if (r < 0 !== y < 0) r += y;
  return r;
}

defineBinaryOp('Mod', {
  f: (x, y, d, attrs) => {
    if (isInteger(d) && y === 0) return 0;
    return attrs.int('fmod', 0) === 1 ? x % y : floorMod(x, y);
  },
  dtypes: anyNumeric,
  onnxSince: 10,
  check: (attrs) => {
    const fmod = attrs.int('fmod', 0);
    if (fmod !== 0 && fmod !== 1) throw new OpError(`Mod attribute 'fmod' must be 0 or 1, got ${fmod}`);
  },
});

const INT_BITS: Partial<Record<DType, number>> = { i8: 8, u8: 8, i16: 16, u16: 16, i32: 32, u32: 32, i64: 64, u64: 64 };

function bitwise(op: (a: bigint, b: bigint) => bigint) {
  return (x: number, y: number, d: DType) => {
    const bits = INT_BITS[d]!;
    const r = op(BigInt(x), BigInt(y));
    return Number(isSignedInt(d) ? BigInt.asIntN(bits, r) : BigInt.asUintN(bits, r));
  };
}

defineBinaryOp('BitwiseAnd', { f: bitwise((a, b) => a & b), dtypes: isInteger, onnxSince: 18 });
defineBinaryOp('BitwiseOr', { f: bitwise((a, b) => a | b), dtypes: isInteger, onnxSince: 18 });
defineBinaryOp('BitwiseXor', { f: bitwise((a, b) => a ^ b), dtypes: isInteger, onnxSince: 18 });

function bitShiftDirection(attrs: Attrs): 'LEFT' | 'RIGHT' {
  const dir = attrs.string('direction');
  if (dir !== 'LEFT' && dir !== 'RIGHT') throw new OpError(`BitShift attribute 'direction' must be LEFT or RIGHT, got '${dir}'`);
  return dir;
}

defineBinaryOp('BitShift', {
  f: (x, y, d, attrs) => {
    const bits = INT_BITS[d]!;
    const right = bitShiftDirection(attrs) === 'RIGHT';
    // Out-of-range shifts give what the sign fill alone produces (ONNX opset 28 wording).
    if (y < 0 || y >= bits) return right && x < 0 ? -1 : 0;
    const r = right ? BigInt(x) >> BigInt(y) : BigInt(x) << BigInt(y);
    return Number(isSignedInt(d) ? BigInt.asIntN(bits, r) : BigInt.asUintN(bits, r));
  },
  dtypes: isInteger,
  onnxSince: 11,
  check: (attrs) => void bitShiftDirection(attrs),
});

const logic = (f: (a: boolean, b: boolean) => boolean) => (x: number, y: number) => (f(x !== 0, y !== 0) ? 1 : 0);
defineBinaryOp('And', { f: logic((a, b) => a && b), dtypes: isBool });
defineBinaryOp('Or', { f: logic((a, b) => a || b), dtypes: isBool });
defineBinaryOp('Xor', { f: logic((a, b) => a !== b), dtypes: isBool });

const anyType = (_: DType) => true;
defineBinaryOp('Equal', { f: (x, y) => (x === y ? 1 : 0), dtypes: anyType, want: 'any type', out: 'bool' });
defineBinaryOp('Less', { f: (x, y) => (x < y ? 1 : 0), dtypes: anyNumeric, out: 'bool' });
defineBinaryOp('LessOrEqual', { f: (x, y) => (x <= y ? 1 : 0), dtypes: anyNumeric, out: 'bool', onnxSince: 12 });
defineBinaryOp('Greater', { f: (x, y) => (x > y ? 1 : 0), dtypes: anyNumeric, out: 'bool' });
defineBinaryOp('GreaterOrEqual', { f: (x, y) => (x >= y ? 1 : 0), dtypes: anyNumeric, out: 'bool', onnxSince: 12 });

defineUnary('Relu', (x) => (x > 0 ? x : 0), { dtypes: signedNumeric, onnxLower: dropConsumedInputs });

// Variadic ops: numpy broadcasting over all inputs (opsets before 8 required equal shapes, which
// broadcasting accepts unchanged).
function defineVariadic(
  name: string, dtypes: (d: DType) => boolean, combine: (args: number[]) => number, rule?: (args: Dim[], d: DType) => Dim | undefined,
): void {
  defineOp({
    name,
    fusionClass: 'broadcast',
    inputs: [1, Infinity],
    outputs: [1, 1],
    onnxLower: dropConsumedInputs,
    infer(ctx) {
      const types: TensorType[] = [];
      for (let i = 0; i < ctx.inputCount; i++) {
        const t = ctx.input(i);
        checkDtype(name, i, t, dtypes, describeDtypes(dtypes));
        if (t.dtype !== types[0]?.dtype && i > 0) {
          throw new OpError(`${name} input ${i} has dtype ${t.dtype}, input 0 has ${types[0]!.dtype}`);
        }
        types.push(t);
      }
      const type: TensorType = { dtype: types[0]!.dtype, shape: broadcastShapes(types.map((t) => t.shape)) };
      const idx = types.map((_, i) => i);
      const sv = rule && isShapeInt(type.dtype) ? shapeValueMap(ctx, idx, type, true, (args) => rule(args, type.dtype)) : undefined;
      return sv ? { types: [type], shapeValues: [sv] } : [type];
    },
    evaluate(inputs) {
      const ts = inputs.map((t, i) => requireInput(inputs, i, name));
      return [broadcastMap(ts, ts[0]!.dtype, combine)];
    },
  });
}

const foldRule = (r: DimRule) => (args: Dim[], d: DType) => {
  let acc: Dim | undefined = args[0]!;
  for (let i = 1; i < args.length && acc !== undefined; i++) acc = r(acc, args[i]!, d);
  return acc;
};

defineVariadic('Max', anyNumeric, (a) => Math.max(...a), foldRule(DIM_RULES.Max!));
defineVariadic('Min', anyNumeric, (a) => Math.min(...a), foldRule(DIM_RULES.Min!));
defineVariadic('Sum', anyNumeric, (a) => a.reduce((s, x) => s + x, 0));
defineVariadic('Mean', isFloat, (a) => a.reduce((s, x) => s + x, 0) / a.length);

defineOp({
  name: 'Where',
  fusionClass: 'broadcast',
  inputs: [3, 3],
  outputs: [1, 1],
  onnxSince: 9,
  infer(ctx) {
    const c = ctx.input(0);
    const x = ctx.input(1);
    const y = ctx.input(2);
    checkDtype('Where', 0, c, isBool, 'bool');
    if (x.dtype !== y.dtype) throw new OpError(`Where inputs 1 and 2 have different dtypes ${x.dtype} and ${y.dtype}`);
    const type: TensorType = { dtype: x.dtype, shape: broadcastShapes([c.shape, x.shape, y.shape]) };
    // Only the condition must be numbers: the selected elements are passed through, symbols included.
    const sv = isInteger(x.dtype)
      ? shapeValueMap(ctx, [0, 1, 2], type, false, ([k, a, b]) => (typeof k !== 'number' ? undefined : k !== 0 ? a : b))
      : undefined;
    return sv ? { types: [type], shapeValues: [sv] } : [type];
  },
  evaluate(inputs) {
    const [c, x, y] = [0, 1, 2].map((i) => requireInput(inputs, i, 'Where'));
    return [broadcastMap([c!, x!, y!], x!.dtype, ([k, a, b]) => (k !== 0 ? a! : b!))];
  },
});
