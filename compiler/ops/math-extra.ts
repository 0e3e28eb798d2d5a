// Less common math ops: CumProd (the multiplicative twin of CumSum), Det (determinants of square
// matrices in the last two dims) and BitCast (reinterpreting element bytes as another type of the
// same width).

import { DTYPE_BITS, dtypeFromOnnx, isFloat, onnxDtypeName } from '../ir/dtype.js';
import { defineOp, UnsupportedError } from '../ir/ops.js';
import { OpError, TensorData, normalizeAxis, requireInput } from './common.js';
import { splitAt } from './reduction.js';

// ---------------------------------------------------------------------------------------------
// CumProd

defineOp({
  name: 'CumProd',
  fusionClass: 'reduction',
  inputs: [2, 2],
  outputs: [1, 1],
  onnxSince: 26,
  infer(ctx) {
    const x = ctx.input(0);
    if (x.dtype === 'bool') throw new OpError('CumProd does not accept bool inputs');
    const a = ctx.input(1);
    if (a.dtype !== 'i32' && a.dtype !== 'i64') throw new OpError(`CumProd input axis must be i32 or i64, got ${a.dtype}`);
    if (a.shape.length > 1 || (a.shape.length === 1 && typeof a.shape[0] === 'number' && a.shape[0] !== 1)) {
      throw new OpError(`CumProd input axis must be a scalar, got shape [${a.shape.join(',')}]`);
    }
    const v = ctx.shapeValue(1);
    if (v && typeof v[0] === 'number') normalizeAxis(v[0], x.shape.length);
    return [x];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'CumProd');
    const axis = normalizeAxis(requireInput(inputs, 1, 'CumProd').values[0]!, x.rank);
    const exclusive = attrs.int('exclusive', 0) !== 0;
    const reverse = attrs.int('reverse', 0) !== 0;
    const [outer, n, inner] = splitAt(x.dims, axis);
    const v = x.values;
    const out = new Float64Array(v.length);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const base = o * n * inner + j;
        let acc = 1;
        for (let s = 0; s < n; s++) {
          const at = base + (reverse ? n - 1 - s : s) * inner;
          // Exclusive scans write the product of the elements before this one (1 for the first).
          if (exclusive) { out[at] = acc; acc *= v[at]!; } else { acc *= v[at]!; out[at] = acc; }
        }
      }
    }
    return [TensorData.fromValues(x.dtype, x.dims, out)];
  },
});

// ---------------------------------------------------------------------------------------------
// Det

/** Determinant by Gaussian elimination with partial pivoting (a is overwritten). */
function determinant(a: Float64Array, n: number): number {
  let det = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]!) > Math.abs(a[p * n + c]!)) p = r;
    if (a[p * n + c] === 0) return 0;
    if (p !== c) {
      for (let k = 0; k < n; k++) { const t = a[c * n + k]!; a[c * n + k] = a[p * n + k]!; a[p * n + k] = t; }
      det = -det;
    }
    const d = a[c * n + c]!;
    det *= d;
    for (let r = c + 1; r < n; r++) {
      const f = a[r * n + c]! / d;
      if (f === 0) continue;
      for (let k = c; k < n; k++) a[r * n + k]! -= f * a[c * n + k]!;
    }
  }
  return det;
}

defineOp({
  name: 'Det',
  fusionClass: 'opaque',
  inputs: [1, 1],
  outputs: [1, 1],
  onnxSince: 11,
  infer(ctx) {
    const x = ctx.input(0);
    if (!isFloat(x.dtype)) throw new OpError(`Det input must be float, got ${x.dtype}`);
    const r = x.shape.length;
    if (r < 2) throw new OpError(`Det input must have rank >= 2, got [${x.shape.join(',')}]`);
    const [m, n] = [x.shape[r - 2]!, x.shape[r - 1]!];
    if (typeof m === 'number' && typeof n === 'number' && m !== n) throw new OpError(`Det input must hold square matrices, got [${x.shape.join(',')}]`);
    return [{ dtype: x.dtype, shape: x.shape.slice(0, -2) }];
  },
  evaluate(inputs) {
    const x = requireInput(inputs, 0, 'Det');
    const n = x.dims[x.rank - 1]!;
    if (x.dims[x.rank - 2] !== n) throw new OpError(`Det input must hold square matrices, got [${x.dims.join(',')}]`);
    const count = x.size / (n * n);
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = determinant(x.values.slice(i * n * n, (i + 1) * n * n), n);
    return [TensorData.fromValues(x.dtype, x.dims.slice(0, -2), out)];
  },
});

// ---------------------------------------------------------------------------------------------
// BitCast

function bitcastTarget(code: number) {
  const to = dtypeFromOnnx(code);
  if (!to) throw new UnsupportedError(`BitCast to ${onnxDtypeName(code)} is not supported`);
  return to;
}

defineOp({
  name: 'BitCast',
  fusionClass: 'elementwise',
  inputs: [1, 1],
  outputs: [1, 1],
  onnxSince: 26,
  infer(ctx) {
    const x = ctx.input(0);
    const to = bitcastTarget(ctx.attrs.int('to'));
    if (DTYPE_BITS[to] !== DTYPE_BITS[x.dtype]) {
      throw new OpError(`BitCast from ${x.dtype} (${DTYPE_BITS[x.dtype]} bits) to ${to} (${DTYPE_BITS[to]} bits) changes the element size`);
    }
    return [{ dtype: to, shape: [...x.shape] }];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'BitCast');
    const to = bitcastTarget(attrs.int('to'));
    if (DTYPE_BITS[to] !== DTYPE_BITS[x.dtype]) throw new OpError(`BitCast from ${x.dtype} to ${to} changes the element size`);
    // Copy: tensors share byte buffers with their source otherwise.
    return [TensorData.fromBytes(to, x.dims, x.bytes.slice())];
  },
});
