// Less common math ops: CumProd (the multiplicative twin of CumSum), Det (determinants of square
// matrices in the last two dims) and BitCast (reinterpreting element bytes as another type of the
// same width).

import { DTYPE_BITS, dtypeFromOnnx, isFloat, onnxDtypeName } from '../ir/dtype.js';
import { defineOp, UnsupportedError } from '../ir/ops.js';
import { OpError, TensorData, requireInput } from './common.js';
import { defineScan } from './reduction.js';

// ---------------------------------------------------------------------------------------------
// CumProd

defineScan('CumProd', 1, (a, v) => a * v, 26);

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
