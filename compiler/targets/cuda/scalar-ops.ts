// The elementwise ops as C expressions on computed values (the meaning is each op's reference
// implementation in compiler/ops/): one function maps a step (op, attributes, result dtype) and
// its operands to an expression in the result's compute type. Operands are always locals, so an
// expression may name one several times.

import type { ArtifactDType } from '../../artifact/format.js';
import { attrFloat, attrInt, attrString, type PlanAttrs } from './plan-attrs.js';
import { computeType, convert, isFloatDtype, isSignedDtype, literal, type Val } from './source.js';

/** Float functions of the CUDA math library: `name` + 'f' is the float version. */
const MATH_FUNCTIONS: Record<string, string> = {
  Exp: 'exp', Log: 'log', Sqrt: 'sqrt', Erf: 'erf', Tanh: 'tanh', Sin: 'sin', Cos: 'cos', Tan: 'tan',
  Asin: 'asin', Acos: 'acos', Atan: 'atan', Sinh: 'sinh', Cosh: 'cosh', Asinh: 'asinh', Acosh: 'acosh', Atanh: 'atanh',
  Floor: 'floor', Ceil: 'ceil', Round: 'rint',
};

/** Ops the elementwise generator handles (as steps and as kernels of their own). */
export const SCALAR_OPS: ReadonlySet<string> = new Set([
  ...Object.keys(MATH_FUNCTIONS),
  'Identity', 'Dropout', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'Neg', 'Abs', 'Sign', 'Reciprocal', 'Relu', 'LeakyRelu', 'Elu', 'Selu',
  'Celu', 'ThresholdedRelu', 'HardSigmoid', 'HardSwish', 'Softplus', 'Softsign', 'Mish', 'Swish', 'Gelu', 'Shrink', 'Sigmoid',
  'Clip', 'Min', 'Max', 'Sum', 'Mean', 'Where', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor',
  'Not', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'BitwiseNot', 'BitShift', 'IsNaN', 'IsInf', 'Cast', 'CastLike', 'PRelu',
]);

const INT_BITS: Partial<Record<ArtifactDType, number>> = { i8: 8, u8: 8, i16: 16, u16: 16, i32: 32, u32: 32, i64: 64, u64: 64 };
const UNSIGNED_OF: Partial<Record<ArtifactDType, string>> = { i8: 'mcpc_u8', i16: 'mcpc_u16', i32: 'mcpc_u32', i64: 'mcpc_u64' };

/**
 * The C expression of `op` on `args` (undefined where an optional input is omitted), in the
 * compute type of `out`; undefined when the op or this use of it has no CUDA form.
 */
export function scalarExpr(op: string, attrs: PlanAttrs, args: readonly (Val | undefined)[], out: ArtifactDType): string | undefined {
  const ct = computeType(out);
  const isF = ct === 'float';
  const isD = ct === 'double';
  const isFloat = isF || isD;
  const L = (x: number) => literal(x, out);
  /** Operand k converted to the result's dtype. */
  const a = (k: number): string => {
    const v = args[k];
    if (!v) throw new Error(`cuda: ${op} operand ${k} is missing`);
    return v.dtype === out || computeType(v.dtype) === ct ? v.expr : convert(v, out);
  };
  const fn = (name: string) => (isF ? `${name}f` : name);
  const mx = (x: string, y: string) => (isF ? `mcpc_maxf(${x}, ${y})` : isD ? `mcpc_maxd(${x}, ${y})` : `mcpc_maxi(${x}, ${y})`);
  const mn = (x: string, y: string) => (isF ? `mcpc_minf(${x}, ${y})` : isD ? `mcpc_mind(${x}, ${y})` : `mcpc_mini(${x}, ${y})`);
  /** Wrapping integer arithmetic: signed overflow is undefined in C++, so go through unsigned. */
  const wrap = (x: string, o: string, y: string) => {
    const u = UNSIGNED_OF[out];
    return (out === 'i32' || out === 'i64') && u ? `(${ct})((${u})${x} ${o} (${u})${y})` : `(${ct})(${x} ${o} ${y})`;
  };

  const math = MATH_FUNCTIONS[op];
  if (math) {
    if (isFloat) return `${fn(math)}(${a(0)})`;
    if (op === 'Erf' || op === 'Floor' || op === 'Ceil' || op === 'Round') return `(${ct})mcpc_f2i64(${math}((double)${a(0)}))`;
    return undefined;
  }
  switch (op) {
    case 'Identity': case 'Dropout': return a(0);
    case 'Add': return isFloat ? `${a(0)} + ${a(1)}` : wrap(a(0), '+', a(1));
    case 'Sub': return isFloat ? `${a(0)} - ${a(1)}` : wrap(a(0), '-', a(1));
    case 'Mul': return isFloat ? `${a(0)} * ${a(1)}` : wrap(a(0), '*', a(1));
    case 'Div': return isFloat ? `${a(0)} / ${a(1)}` : `(${a(1)} == 0 ? (${ct})0 : (${ct})(${a(0)} / ${a(1)}))`;
    case 'Pow': {
      const e = args[1]!;
      if (isF) return `powf(${a(0)}, ${computeType(e.dtype) === 'float' ? e.expr : `(float)${e.expr}`})`;
      if (isD) return `pow(${a(0)}, (double)${e.expr})`;
      return `(${ct})mcpc_f2i64(pow((double)${a(0)}, (double)${e.expr}))`;
    }
    case 'Mod': {
      const f = attrInt(attrs, 'fmod', 0) === 1;
      if (isFloat) return f ? `${fn('fmod')}(${a(0)}, ${a(1)})` : `${isF ? 'mcpc_floormodf' : 'mcpc_floormodd'}(${a(0)}, ${a(1)})`;
      return f ? `(${a(1)} == 0 ? (${ct})0 : (${ct})(${a(0)} % ${a(1)}))` : `mcpc_floormodi<${ct}>(${a(0)}, ${a(1)})`;
    }
    case 'Neg': return isFloat ? `-${a(0)}` : `(${ct})(0 - ${a(0)})`;
    case 'Abs':
      if (isFloat) return `${fn('fabs')}(${a(0)})`;
      return isSignedDtype(out) ? `(${ct})(${a(0)} < 0 ? 0 - ${a(0)} : ${a(0)})` : a(0);
    case 'Sign':
      if (isFloat) return `(${a(0)} > ${L(0)} ? ${L(1)} : (${a(0)} < ${L(0)} ? ${L(-1)} : ${a(0)}))`;
      return `(${ct})((${a(0)} > 0) - (${a(0)} < 0))`;
    case 'Reciprocal': return isFloat ? `${L(1)} / ${a(0)}` : undefined;
    case 'Relu': return `(${a(0)} > ${L(0)} ? ${a(0)} : ${L(0)})`;
    case 'PRelu': return `(${a(0)} < ${L(0)} ? ${a(1)} * ${a(0)} : ${a(0)})`;
    case 'LeakyRelu': return isFloat ? `(${a(0)} >= ${L(0)} ? ${a(0)} : ${L(attrFloat(attrs, 'alpha', 0.01))} * ${a(0)})` : undefined;
    case 'Elu': return isFloat ? `(${a(0)} >= ${L(0)} ? ${a(0)} : ${L(attrFloat(attrs, 'alpha', 1))} * ${fn('expm1')}(${a(0)}))` : undefined;
    case 'Selu': {
      if (!isFloat) return undefined;
      const alpha = L(attrFloat(attrs, 'alpha', 1.67326319217681884765625));
      const gamma = L(attrFloat(attrs, 'gamma', 1.05070102214813232421875));
      return `${gamma} * (${a(0)} > ${L(0)} ? ${a(0)} : ${alpha} * ${fn('expm1')}(${a(0)}))`;
    }
    case 'Celu': {
      if (!isFloat) return undefined;
      const alpha = attrFloat(attrs, 'alpha', 1);
      const t = `${L(alpha)} * ${fn('expm1')}(${a(0)} / ${L(alpha)})`;
      return `(${mx(L(0), a(0))} + ${mn(L(0), t)})`;
    }
    case 'ThresholdedRelu': return isFloat ? `(${a(0)} > ${L(attrFloat(attrs, 'alpha', 1))} ? ${a(0)} : ${L(0)})` : undefined;
    case 'HardSigmoid': {
      if (!isFloat) return undefined;
      const v = `${L(attrFloat(attrs, 'alpha', 0.2))} * ${a(0)} + ${L(attrFloat(attrs, 'beta', 0.5))}`;
      return mx(L(0), mn(L(1), v));
    }
    case 'HardSwish': return isFloat ? `${a(0)} * ${mx(L(0), mn(L(1), `${a(0)} / ${L(6)} + ${L(0.5)}`))}` : undefined;
    case 'Softplus': return isFloat ? `(${mx(a(0), L(0))} + ${fn('log1p')}(${fn('exp')}(-${fn('fabs')}(${a(0)}))))` : undefined;
    case 'Softsign': return isFloat ? `${a(0)} / (${L(1)} + ${fn('fabs')}(${a(0)}))` : undefined;
    case 'Mish': return isFloat ? `${a(0)} * ${fn('tanh')}(${mx(a(0), L(0))} + ${fn('log1p')}(${fn('exp')}(-${fn('fabs')}(${a(0)}))))` : undefined;
    case 'Sigmoid': return isF ? `mcpc_sigmoidf(${a(0)})` : isD ? `mcpc_sigmoidd(${a(0)})` : undefined;
    case 'Swish': {
      if (!isFloat) return undefined;
      return `${a(0)} * ${isF ? 'mcpc_sigmoidf' : 'mcpc_sigmoidd'}(${L(attrFloat(attrs, 'alpha', 1))} * ${a(0)})`;
    }
    case 'Gelu': {
      if (!isFloat) return undefined;
      const mode = attrString(attrs, 'approximate', 'none');
      if (mode === 'tanh') {
        return `${L(0.5)} * ${a(0)} * (${L(1)} + ${fn('tanh')}(${L(Math.sqrt(2 / Math.PI))} * (${a(0)} + ${L(0.044715)} * ${a(0)} * ${a(0)} * ${a(0)})))`;
      }
      if (mode !== 'none') return undefined;
      return `${L(0.5)} * ${a(0)} * (${L(1)} + ${fn('erf')}(${a(0)} * ${L(Math.SQRT1_2)}))`;
    }
    case 'Shrink': {
      const lambd = L(attrFloat(attrs, 'lambd', 0.5));
      const bias = L(attrFloat(attrs, 'bias', 0));
      return `(${a(0)} < -${lambd} ? ${a(0)} + ${bias} : (${a(0)} > ${lambd} ? ${a(0)} - ${bias} : ${L(0)}))`;
    }
    case 'Clip': {
      // Min(max, Max(x, min)) by comparisons, so that NaN passes through as in the reference.
      let v = a(0);
      if (args[1]) v = `(${v} < ${a(1)} ? ${a(1)} : ${v})`;
      if (args[2]) v = `(${v} > ${a(2)} ? ${a(2)} : ${v})`;
      return v;
    }
    case 'Max': case 'Min': {
      let v = a(0);
      for (let k = 1; k < args.length; k++) v = op === 'Max' ? mx(v, a(k)) : mn(v, a(k));
      return v;
    }
    case 'Sum': case 'Mean': {
      if (!isFloat && op === 'Mean') return undefined;
      const s = args.map((_, k) => a(k)).join(' + ');
      return op === 'Mean' ? `(${s}) / ${L(args.length)}` : isFloat ? `(${s})` : `(${ct})(${s})`;
    }
    case 'Where': return `(${args[0]!.expr} ? ${a(1)} : ${a(2)})`;
    case 'Equal': case 'Less': case 'Greater': case 'LessOrEqual': case 'GreaterOrEqual': {
      const o = { Equal: '==', Less: '<', Greater: '>', LessOrEqual: '<=', GreaterOrEqual: '>=' }[op];
      return `(${args[0]!.expr} ${o} ${args[1]!.expr})`;
    }
    case 'And': return `(${args[0]!.expr} && ${args[1]!.expr})`;
    case 'Or': return `(${args[0]!.expr} || ${args[1]!.expr})`;
    case 'Xor': return `(${args[0]!.expr} != ${args[1]!.expr})`;
    case 'Not': return `(!${args[0]!.expr})`;
    case 'BitwiseAnd': return isFloat ? undefined : `(${ct})(${a(0)} & ${a(1)})`;
    case 'BitwiseOr': return isFloat ? undefined : `(${ct})(${a(0)} | ${a(1)})`;
    case 'BitwiseXor': return isFloat ? undefined : `(${ct})(${a(0)} ^ ${a(1)})`;
    case 'BitwiseNot': return isFloat ? undefined : `(${ct})(~${a(0)})`;
    case 'BitShift': {
      const bits = INT_BITS[out];
      if (!bits) return undefined;
      const right = attrString(attrs, 'direction', '') === 'RIGHT';
      const u = UNSIGNED_OF[out] ?? ct;
      const fill = right && isSignedDtype(out) ? `(${a(0)} < 0 ? (${ct})-1 : (${ct})0)` : `(${ct})0`;
      const shifted = right ? `(${ct})(${a(0)} >> ${a(1)})` : `(${ct})((${u})${a(0)} << ${a(1)})`;
      return `((${a(1)} < 0 || ${a(1)} >= ${bits}) ? ${fill} : ${shifted})`;
    }
    case 'IsNaN': return `(${args[0]!.expr} != ${args[0]!.expr})`;
    case 'IsInf': {
      const x = args[0]!;
      const inf = literal(Infinity, x.dtype);
      const terms: string[] = [];
      if (attrInt(attrs, 'detect_positive', 1) !== 0) terms.push(`${x.expr} == ${inf}`);
      if (attrInt(attrs, 'detect_negative', 1) !== 0) terms.push(`${x.expr} == -${inf}`);
      return terms.length ? `(${terms.join(' || ')})` : 'false';
    }
    case 'Cast': case 'CastLike': {
      if (!isFloatDtype(out) && !INT_BITS[out] && out !== 'bool') return undefined;
      return convert(args[0]!, out);
    }
    default:
      return undefined;
  }
}
