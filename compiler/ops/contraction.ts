// Contractions: matrix products (MatMul, Gemm, MatMulInteger, Einsum) and convolutions (Conv,
// ConvTranspose, ConvInteger). Convolutions take their window geometry from pooling.ts so that
// convolutions and pools size outputs identically.

import type { DType } from '../ir/dtype.js';
import { isFloat } from '../ir/dtype.js';
import { defineOp, type InferContext } from '../ir/ops.js';
import type { Dim, TensorType } from '../ir/types.js';
import {
  Attrs, OpError, TensorData, broadcastIndex, broadcastShapes, elementCount, requireInput, sameDims, stridesOf,
} from './common.js';
import { listAttr, planWindow, tapRanges, to3 } from './pooling.js';

function sameDtype(ctx: InferContext, op: string, idx: number[]): DType {
  const d = ctx.input(idx[0]!).dtype;
  for (const i of idx.slice(1)) {
    const t = ctx.optionalInput(i);
    if (t && t.dtype !== d) throw new OpError(`${op} input ${i} has dtype ${t.dtype}, expected ${d} like input ${idx[0]}`);
  }
  return d;
}

function dimsMatch(a: Dim, b: Dim): boolean {
  return typeof a !== 'number' || typeof b !== 'number' || a === b;
}

// ---------------------------------------------------------------------------------------------
// Matrix products

function matmulShape(a: readonly Dim[], b: readonly Dim[], what: string): Dim[] {
  if (a.length === 0 || b.length === 0) throw new OpError(`${what} inputs must have rank >= 1, got [${a}] and [${b}]`);
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k1 = a2[a2.length - 1]!;
  const k2 = b2[b2.length - 2]!;
  if (!dimsMatch(k1, k2)) throw new OpError(`${what} inner dims differ: [${a.join(',')}] x [${b.join(',')}]`);
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]);
  const out = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]!);
  if (b.length > 1) out.push(b2[b2.length - 1]!);
  return out;
}

/** Batched a x b in float64 (numpy matmul semantics); `az`/`bz` are zero points subtracted first. */
function matmulValues(a: TensorData, b: TensorData, az?: TensorData, bz?: TensorData): { dims: number[]; values: Float64Array } {
  const ad = a.dims.length === 1 ? [1, a.dims[0]!] : [...a.dims];
  const bd = b.dims.length === 1 ? [b.dims[0]!, 1] : [...b.dims];
  const M = ad[ad.length - 2]!;
  const K = ad[ad.length - 1]!;
  const N = bd[bd.length - 1]!;
  const aBatch = ad.slice(0, -2);
  const bBatch = bd.slice(0, -2);
  const batch = broadcastShapes([aBatch, bBatch]) as number[];
  const nb = elementCount(batch);
  const ai = broadcastIndex(aBatch, batch);
  const bi = broadcastIndex(bBatch, batch);
  const av = shiftRows(a.values, M, K, az, 'a_zero_point');
  const bv = shiftCols(b.values, K, N, bz);
  const out = new Float64Array(nb * M * N);
  for (let p = 0; p < nb; p++) {
    const ao = ai[p]! * M * K;
    const bo = bi[p]! * K * N;
    const oo = p * M * N;
    for (let i = 0; i < M; i++) {
      const orow = oo + i * N;
      for (let k = 0; k < K; k++) {
        const x = av[ao + i * K + k]!;
        if (x === 0) continue;
        const brow = bo + k * N;
        for (let j = 0; j < N; j++) out[orow + j] += x * bv[brow + j]!;
      }
    }
  }
  const dims = [...batch];
  if (a.dims.length > 1) dims.push(M);
  if (b.dims.length > 1) dims.push(N);
  return { dims, values: out };
}

function shiftRows(v: Float64Array, M: number, K: number, z: TensorData | undefined, what: string): Float64Array {
  if (!z) return v;
  const zv = z.values;
  if (zv.length !== 1 && zv.length !== M) throw new OpError(`${what} must be a scalar or have ${M} elements, got ${zv.length}`);
  const r = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) r[i] = v[i]! - zv[zv.length === 1 ? 0 : Math.floor(i / K) % M]!;
  return r;
}

function shiftCols(v: Float64Array, K: number, N: number, z: TensorData | undefined): Float64Array {
  if (!z) return v;
  const zv = z.values;
  if (zv.length !== 1 && zv.length !== N) throw new OpError(`b_zero_point must be a scalar or have ${N} elements, got ${zv.length}`);
  const r = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) r[i] = v[i]! - zv[zv.length === 1 ? 0 : i % N]!;
  return r;
}

defineOp({
  name: 'MatMul',
  fusionClass: 'contraction',
  inputs: [2, 2],
  outputs: [1, 1],
  infer(ctx) {
    const dtype = sameDtype(ctx, 'MatMul', [0, 1]);
    if (dtype === 'bool') throw new OpError('MatMul does not accept bool inputs');
    return [{ dtype, shape: matmulShape(ctx.input(0).shape, ctx.input(1).shape, 'MatMul') }];
  },
  evaluate(inputs) {
    const a = requireInput(inputs, 0, 'MatMul');
    const r = matmulValues(a, requireInput(inputs, 1, 'MatMul'));
    return [TensorData.fromValues(a.dtype, r.dims, r.values)];
  },
});

const int8ish = (d: DType) => d === 'i8' || d === 'u8';

defineOp({
  name: 'MatMulInteger',
  fusionClass: 'contraction',
  inputs: [2, 4],
  outputs: [1, 1],
  onnxSince: 10,
  infer(ctx) {
    for (const i of [0, 1]) {
      if (!int8ish(ctx.input(i).dtype)) throw new OpError(`MatMulInteger input ${i} must be i8 or u8, got ${ctx.input(i).dtype}`);
    }
    return [{ dtype: 'i32', shape: matmulShape(ctx.input(0).shape, ctx.input(1).shape, 'MatMulInteger') }];
  },
  evaluate(inputs) {
    const r = matmulValues(requireInput(inputs, 0, 'MatMulInteger'), requireInput(inputs, 1, 'MatMulInteger'), inputs[2], inputs[3]);
    return [TensorData.fromValues('i32', r.dims, r.values)];
  },
});

defineOp({
  name: 'Gemm',
  fusionClass: 'contraction',
  inputs: [2, 3],
  outputs: [1, 1],
  // Opsets before 7 carry a 'broadcast' flag; the IR always broadcasts C, which accepts those models.
  onnxLower(ctx) {
    const attrs = ctx.attrs.with('broadcast', undefined);
    ctx.setOutputs(ctx.emit('Gemm', [...ctx.inputs], attrs, 1));
  },
  infer(ctx) {
    const dtype = sameDtype(ctx, 'Gemm', [0, 1, 2]);
    const a = ctx.input(0).shape;
    const b = ctx.input(1).shape;
    if (a.length !== 2 || b.length !== 2) throw new OpError(`Gemm inputs A and B must be 2-D, got [${a}] and [${b}]`);
    const ta = ctx.attrs.int('transA', 0);
    const tb = ctx.attrs.int('transB', 0);
    const [M, K1] = ta ? [a[1]!, a[0]!] : [a[0]!, a[1]!];
    const [K2, N] = tb ? [b[1]!, b[0]!] : [b[0]!, b[1]!];
    if (!dimsMatch(K1, K2)) throw new OpError(`Gemm inner dims differ: A [${a}] (transA=${ta}) x B [${b}] (transB=${tb})`);
    const c = ctx.optionalInput(2);
    if (c) {
      const fits = c.shape.length <= 2 && c.shape.every((d, k) => d === 1 || dimsMatch(d, [M, N][k + 2 - c.shape.length]!));
      if (!fits) {
        throw new OpError(`Gemm input C of shape [${c.shape}] does not broadcast to [${M},${N}]`);
      }
    }
    return [{ dtype, shape: [M, N] }];
  },
  evaluate(inputs, attrs) {
    const a = requireInput(inputs, 0, 'Gemm');
    const b = requireInput(inputs, 1, 'Gemm');
    const at = attrs.int('transA', 0) ? transpose2(a) : a;
    const bt = attrs.int('transB', 0) ? transpose2(b) : b;
    const r = matmulValues(at, bt);
    const alpha = attrs.float('alpha', 1);
    const beta = attrs.float('beta', 1);
    const v = r.values;
    if (alpha !== 1) for (let i = 0; i < v.length; i++) v[i] *= alpha;
    const c = inputs[2];
    if (c && beta !== 0) {
      const ci = sameDims(c.dims, r.dims) ? undefined : broadcastIndex(c.dims, r.dims);
      const cv = c.values;
      for (let i = 0; i < v.length; i++) v[i] += beta * cv[ci ? ci[i]! : i]!;
    }
    return [TensorData.fromValues(a.dtype, r.dims, v)];
  },
});

function transpose2(t: TensorData): TensorData {
  const [R, C] = t.dims as [number, number];
  const v = t.values;
  const r = new Float64Array(v.length);
  for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) r[j * R + i] = v[i * C + j]!;
  return TensorData.fromValues('f64', [C, R], r);
}

// ---------------------------------------------------------------------------------------------
// Convolutions

function kernelOf(attrs: Attrs, w: readonly Dim[]): number[] {
  const fromW = w.slice(2);
  if (attrs.has('kernel_shape')) {
    const k = [...attrs.ints('kernel_shape')];
    if (k.length !== fromW.length || k.some((x, i) => !dimsMatch(x, fromW[i]!))) {
      throw new OpError(`attribute 'kernel_shape' [${k}] does not match weight shape [${w.join(',')}]`);
    }
    return k;
  }
  if (!fromW.every((d): d is number => typeof d === 'number')) throw new OpError(`weight spatial dims must be static, got [${w.join(',')}]`);
  return fromW;
}

function convInfer(ctx: InferContext, op: string, outDtype?: DType): TensorType[] {
  const x = ctx.input(0);
  const w = ctx.input(1);
  if (x.shape.length < 3 || x.shape.length > 5) throw new OpError(`${op} input X must have rank 3 to 5, got [${x.shape}]`);
  if (w.shape.length !== x.shape.length) throw new OpError(`${op} weight W of shape [${w.shape}] does not match X of shape [${x.shape}]`);
  const group = ctx.attrs.int('group', 1);
  const C = x.shape[1]!;
  const M = w.shape[0]!;
  if (typeof C === 'number' && typeof w.shape[1] === 'number' && C !== w.shape[1] * group) {
    throw new OpError(`${op} X has ${C} channels but W [${w.shape}] with group=${group} expects ${w.shape[1] * group}`);
  }
  if (typeof M === 'number' && M % group !== 0) throw new OpError(`${op} ${M} output channels are not divisible by group=${group}`);
  const b = ctx.optionalInput(2);
  if (outDtype === undefined && b && (b.shape.length !== 1 || !dimsMatch(b.shape[0]!, M))) {
    throw new OpError(`${op} bias B must have shape [${M}], got [${b.shape}]`);
  }
  const plan = planWindow(ctx.attrs, x.shape.slice(2), kernelOf(ctx.attrs, w.shape), false, ctx.freshDim);
  return [{ dtype: outDtype ?? x.dtype, shape: [x.shape[0]!, M, ...plan.out] }];
}

/** Direct convolution in float64; `xz`/`wz` are zero points (ConvInteger). */
function convValues(x: TensorData, w: TensorData, b: TensorData | undefined, attrs: Attrs, xz?: number, wz?: TensorData) {
  const [N, C] = x.dims as number[];
  const M = w.dims[0]!;
  const group = attrs.int('group', 1);
  const kernel = kernelOf(attrs, w.dims);
  const plan = planWindow(attrs, x.dims.slice(2), kernel, false);
  const [D, H, W] = to3(x.dims.slice(2), 1);
  const [KD, KH, KW] = to3(kernel, 1);
  const [OD, OH, OW] = to3(plan.out as number[], 1);
  const [sd, sh, sw] = to3(plan.strides, 1);
  const [dd, dh, dw] = to3(plan.dilations, 1);
  const n = plan.strides.length;
  const [pd, ph, pw] = to3(plan.pads.slice(0, n), 0);
  const rd = tapRanges(D!, OD!, KD!, sd!, dd!, pd!);
  const rh = tapRanges(H!, OH!, KH!, sh!, dh!, ph!);
  const rw = tapRanges(W!, OW!, KW!, sw!, dw!, pw!);
  const Cg = C! / group;
  const Mg = M / group;
  const xv = xz ? x.values.map((v) => v - xz) : x.values;
  const wv = wz ? shiftRows(w.values, M, w.size / M, wz, 'w_zero_point') : w.values;
  const bv = b?.values;
  const inPlane = D! * H! * W!;
  const outPlane = OD! * OH! * OW!;
  const kSize = KD! * KH! * KW!;
  const out = new Float64Array(N! * M * outPlane);
  for (let nn = 0; nn < N!; nn++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      const ob = (nn * M + m) * outPlane;
      if (bv) out.fill(bv[m]!, ob, ob + outPlane);
      for (let c = 0; c < Cg; c++) {
        const xb = (nn * C! + g * Cg + c) * inPlane;
        const wb = (m * Cg + c) * kSize;
        for (let kd = 0; kd < KD!; kd++) {
          for (let kh = 0; kh < KH!; kh++) {
            for (let kw = 0; kw < KW!; kw++) {
              const wt = wv[wb + (kd * KH! + kh) * KW! + kw]!;
              if (wt === 0) continue;
              const lw = rw[2 * kw]!;
              const hw = rw[2 * kw + 1]!;
              for (let od = rd[2 * kd]!; od < rd[2 * kd + 1]!; od++) {
                const id = od * sd! - pd! + kd * dd!;
                for (let oh = rh[2 * kh]!; oh < rh[2 * kh + 1]!; oh++) {
                  const ih = oh * sh! - ph! + kh * dh!;
                  const orow = ob + (od * OH! + oh) * OW!;
                  let xi = xb + (id * H! + ih) * W! + lw * sw! - pw! + kw * dw!;
                  for (let ow = lw; ow < hw; ow++, xi += sw!) out[orow + ow] += wt * xv[xi]!;
                }
              }
            }
          }
        }
      }
    }
  }
  return { dims: [N!, M, ...(plan.out as number[])], values: out };
}

defineOp({
  name: 'Conv',
  fusionClass: 'contraction',
  inputs: [2, 3],
  outputs: [1, 1],
  infer(ctx) {
    const dtype = sameDtype(ctx, 'Conv', [0, 1, 2]);
    if (!isFloat(dtype)) throw new OpError(`Conv needs float inputs, got ${dtype}`);
    return convInfer(ctx, 'Conv');
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'Conv');
    const r = convValues(x, requireInput(inputs, 1, 'Conv'), inputs[2], attrs);
    return [TensorData.fromValues(x.dtype, r.dims, r.values)];
  },
});

defineOp({
  name: 'ConvInteger',
  fusionClass: 'contraction',
  inputs: [2, 4],
  outputs: [1, 1],
  onnxSince: 10,
  infer(ctx) {
    for (const i of [0, 1]) {
      if (!int8ish(ctx.input(i).dtype)) throw new OpError(`ConvInteger input ${i} must be i8 or u8, got ${ctx.input(i).dtype}`);
    }
    return convInfer(ctx, 'ConvInteger', 'i32');
  },
  evaluate(inputs, attrs) {
    const xz = inputs[2];
    if (xz && xz.size !== 1) throw new OpError(`ConvInteger x_zero_point must be a scalar, got shape [${xz.dims}]`);
    const r = convValues(requireInput(inputs, 0, 'ConvInteger'), requireInput(inputs, 1, 'ConvInteger'), undefined, attrs,
      xz?.values[0], inputs[3]);
    return [TensorData.fromValues('i32', r.dims, r.values)];
  },
});

/** ConvTranspose geometry per the ONNX spec: output_shape wins over pads; SAME_* derives pads. */
function planTranspose(attrs: Attrs, inDims: readonly Dim[], kernel: readonly number[], fresh?: (hint: string) => Dim): { pads: number[]; out: Dim[]; strides: number[]; dilations: number[] } {
  const n = inDims.length;
  const strides = listAttr(attrs, 'strides', n, 1);
  const dilations = listAttr(attrs, 'dilations', n, 1);
  const outPad = listAttr(attrs, 'output_padding', n, 0);
  const autoPad = attrs.string('auto_pad', 'NOTSET');
  let outShape = attrs.has('output_shape') ? [...attrs.ints('output_shape')] : undefined;
  if (outShape && outShape.length === n + 2) outShape = outShape.slice(2);
  if (outShape && outShape.length !== n) throw new OpError(`attribute 'output_shape' [${outShape}] does not match ${n} spatial dims`);
  const same = autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER';
  if (!same && autoPad !== 'NOTSET' && autoPad !== 'VALID') throw new OpError(`attribute 'auto_pad' has unknown value '${autoPad}'`);
  const pads = autoPad === 'VALID' ? new Array(2 * n).fill(0) : [...attrs.ints('pads', new Array(2 * n).fill(0))];
  if (pads.length !== 2 * n) throw new OpError(`attribute 'pads' needs ${2 * n} values, got [${pads.join(',')}]`);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const d = inDims[i]!;
    const span = (kernel[i]! - 1) * dilations[i]! + 1;
    if (typeof d !== 'number') {
      const unchanged = strides[i] === 1 && span === 1 && outPad[i] === 0 && (same || pads[i]! + pads[n + i]! === 0);
      out.push(outShape ? outShape[i]! : unchanged || !fresh ? d : fresh('w'));
      continue;
    }
    const full = strides[i]! * (d - 1) + outPad[i]! + span;
    if (outShape || same) {
      const target = outShape ? outShape[i]! : d * strides[i]!;
      const total = full - target;
      const half = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? half : total - half;
      pads[n + i] = total - pads[i]!;
      out.push(target);
    } else {
      const o = full - pads[i]! - pads[n + i]!;
      if (o <= 0) throw new OpError(`ConvTranspose output dim ${i} would be ${o}`);
      out.push(o);
    }
  }
  return { pads, out, strides, dilations };
}

defineOp({
  name: 'ConvTranspose',
  fusionClass: 'contraction',
  inputs: [2, 3],
  outputs: [1, 1],
  infer(ctx) {
    const dtype = sameDtype(ctx, 'ConvTranspose', [0, 1, 2]);
    if (!isFloat(dtype)) throw new OpError(`ConvTranspose needs float inputs, got ${dtype}`);
    const x = ctx.input(0);
    const w = ctx.input(1);
    if (x.shape.length < 3 || x.shape.length > 5) throw new OpError(`ConvTranspose input X must have rank 3 to 5, got [${x.shape}]`);
    if (w.shape.length !== x.shape.length) throw new OpError(`ConvTranspose weight W [${w.shape}] does not match X [${x.shape}]`);
    const group = ctx.attrs.int('group', 1);
    if (!dimsMatch(x.shape[1]!, w.shape[0]!)) throw new OpError(`ConvTranspose X has ${x.shape[1]} channels but W [${w.shape}] expects ${w.shape[0]}`);
    const M = typeof w.shape[1] === 'number' ? w.shape[1] * group : ctx.freshDim('c');
    const b = ctx.optionalInput(2);
    if (b && (b.shape.length !== 1 || !dimsMatch(b.shape[0]!, M))) throw new OpError(`ConvTranspose bias B must have shape [${M}], got [${b.shape}]`);
    const plan = planTranspose(ctx.attrs, x.shape.slice(2), kernelOf(ctx.attrs, w.shape), ctx.freshDim);
    return [{ dtype, shape: [x.shape[0]!, M, ...plan.out] }];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'ConvTranspose');
    const w = requireInput(inputs, 1, 'ConvTranspose');
    const [N, C] = x.dims as number[];
    const group = attrs.int('group', 1);
    const Mg = w.dims[1]!;
    const M = Mg * group;
    const Cg = C! / group;
    const kernel = kernelOf(attrs, w.dims);
    const plan = planTranspose(attrs, x.dims.slice(2), kernel);
    const n = kernel.length;
    const [D, H, W] = to3(x.dims.slice(2), 1);
    const [KD, KH, KW] = to3(kernel, 1);
    const [OD, OH, OW] = to3(plan.out as number[], 1);
    const [sd, sh, sw] = to3(plan.strides, 1);
    const [dd, dh, dw] = to3(plan.dilations, 1);
    const [pd, ph, pw] = to3(plan.pads.slice(0, n), 0);
    // Output index o = i*s - pad + k*d; the input range that lands inside the output, per tap.
    const inRange = (size: number, out: number, k: number, s: number, d: number, p: number) => {
      const r = new Int32Array(2 * k);
      for (let t = 0; t < k; t++) {
        const off = t * d - p;
        const lo = Math.max(0, Math.ceil(-off / s));
        const hi = Math.min(size, Math.floor((out - 1 - off) / s) + 1);
        r[2 * t] = lo;
        r[2 * t + 1] = Math.max(lo, hi);
      }
      return r;
    };
    const rd = inRange(D!, OD!, KD!, sd!, dd!, pd!);
    const rh = inRange(H!, OH!, KH!, sh!, dh!, ph!);
    const rw = inRange(W!, OW!, KW!, sw!, dw!, pw!);
    const xv = x.values;
    const wv = w.values;
    const inPlane = D! * H! * W!;
    const outPlane = OD! * OH! * OW!;
    const kSize = KD! * KH! * KW!;
    const out = new Float64Array(N! * M * outPlane);
    const bv = inputs[2]?.values;
    for (let nn = 0; nn < N!; nn++) {
      for (let m = 0; m < M; m++) {
        const g = Math.floor(m / Mg);
        const ob = (nn * M + m) * outPlane;
        if (bv) out.fill(bv[m]!, ob, ob + outPlane);
        for (let c = 0; c < Cg; c++) {
          const ci = g * Cg + c;
          const xb = (nn * C! + ci) * inPlane;
          const wb = (ci * Mg + (m - g * Mg)) * kSize;
          for (let kd = 0; kd < KD!; kd++) {
            for (let kh = 0; kh < KH!; kh++) {
              for (let kw = 0; kw < KW!; kw++) {
                const wt = wv[wb + (kd * KH! + kh) * KW! + kw]!;
                if (wt === 0) continue;
                const lw = rw[2 * kw]!;
                const hw = rw[2 * kw + 1]!;
                for (let id = rd[2 * kd]!; id < rd[2 * kd + 1]!; id++) {
                  const od = id * sd! - pd! + kd * dd!;
                  for (let ih = rh[2 * kh]!; ih < rh[2 * kh + 1]!; ih++) {
                    const oh = ih * sh! - ph! + kh * dh!;
                    const xrow = xb + (id * H! + ih) * W!;
                    let oi = ob + (od * OH! + oh) * OW! + lw * sw! - pw! + kw * dw!;
                    for (let iw = lw; iw < hw; iw++, oi += sw!) out[oi] += wt * xv[xrow + iw]!;
                  }
                }
              }
            }
          }
        }
      }
    }
    return [TensorData.fromValues(x.dtype, [N!, M, ...(plan.out as number[])], out)];
  },
});

// ---------------------------------------------------------------------------------------------
// Einsum

interface EinsumSpec {
  /** Per input, its labels (ellipsis dims get labels after the letters: codes >= 1000). */
  inputs: number[][];
  output: number[];
}

/** Parses an equation against input ranks; ellipsis dims become labels 1000+k (k from the right). */
function parseEinsum(equation: string, ranks: readonly number[]): EinsumSpec {
  const eq = equation.replace(/\s+/g, '');
  const [lhs, rhs] = eq.split('->') as [string, string | undefined];
  const terms = lhs.split(',');
  if (terms.length !== ranks.length) throw new OpError(`Einsum equation '${equation}' has ${terms.length} operands, got ${ranks.length} inputs`);
  let ellRank = 0;
  const parseTerm = (term: string, rank: number | undefined): number[] => {
    const parts = term.split('...');
    if (parts.length > 2) throw new OpError(`Einsum equation '${equation}' has more than one ellipsis in a term`);
    const letters = (s: string) => [...s].map((ch) => {
      if (!/[a-zA-Z]/.test(ch)) throw new OpError(`Einsum equation '${equation}' has invalid character '${ch}'`);
      return ch.charCodeAt(0);
    });
    if (parts.length === 1) {
      const l = letters(term);
      if (rank !== undefined && l.length !== rank) throw new OpError(`Einsum term '${term}' has ${l.length} labels but its input has rank ${rank}`);
      return l;
    }
    const head = letters(parts[0]!);
    const tail = letters(parts[1]!);
    const e = rank === undefined ? ellRank : rank - head.length - tail.length;
    if (e < 0) throw new OpError(`Einsum term '${term}' has more labels than its input's rank ${rank}`);
    ellRank = Math.max(ellRank, e);
    return [...head, ...Array.from({ length: e }, (_, k) => 1000 + e - 1 - k), ...tail];
  };
  const inputs = terms.map((t, i) => parseTerm(t, ranks[i]));
  let output: number[];
  if (rhs !== undefined) {
    output = parseTerm(rhs, undefined);
    const seen = new Set(inputs.flat());
    for (const l of output) if (l < 1000 && !seen.has(l)) throw new OpError(`Einsum output label '${String.fromCharCode(l)}' is not in any input`);
  } else {
    const count = new Map<number, number>();
    for (const l of inputs.flat()) count.set(l, (count.get(l) ?? 0) + 1);
    const ell = Array.from({ length: ellRank }, (_, k) => 1000 + ellRank - 1 - k);
    output = [...ell, ...[...count].filter(([l, c]) => l < 1000 && c === 1).map(([l]) => l).sort((a, b) => a - b)];
  }
  return { inputs, output };
}

function einsumSizes(spec: EinsumSpec, shapes: readonly (readonly Dim[])[]): Map<number, Dim> {
  const size = new Map<number, Dim>();
  spec.inputs.forEach((labels, i) => labels.forEach((l, k) => {
    const d = shapes[i]![k]!;
    const prev = size.get(l);
    if (prev === undefined || prev === 1) size.set(l, d);
    else if (d !== 1 && d !== prev && typeof d === 'number' && typeof prev === 'number') {
      throw new OpError(`Einsum label '${l >= 1000 ? '...' : String.fromCharCode(l)}' has sizes ${prev} and ${d}`);
    } else if (typeof prev !== 'number' && typeof d === 'number' && d !== 1) size.set(l, d);
  }));
  return size;
}

defineOp({
  name: 'Einsum',
  fusionClass: 'contraction',
  inputs: [1, Infinity],
  outputs: [1, 1],
  onnxSince: 12,
  infer(ctx) {
    const shapes = Array.from({ length: ctx.inputCount }, (_, i) => ctx.input(i).shape);
    const dtype = sameDtype(ctx, 'Einsum', shapes.map((_, i) => i));
    const spec = parseEinsum(ctx.attrs.string('equation'), shapes.map((s) => s.length));
    const size = einsumSizes(spec, shapes);
    return [{ dtype, shape: spec.output.map((l) => size.get(l) ?? 1) }];
  },
  evaluate(inputs, attrs) {
    const ts = inputs.map((t, i) => requireInput(inputs, i, 'Einsum'));
    const spec = parseEinsum(attrs.string('equation'), ts.map((t) => t.rank));
    const size = einsumSizes(spec, ts.map((t) => t.dims)) as Map<number, number>;
    // Loop over every label: output labels first (outer), summed labels after (inner).
    const summed = [...size.keys()].filter((l) => !spec.output.includes(l));
    const order = [...spec.output, ...summed];
    const dims = order.map((l) => size.get(l)!);
    const nl = order.length;
    // Per operand and label, the stride in that operand (repeated labels add up: diagonals).
    const strides = ts.map((t, i) => {
      const st = stridesOf(t.dims);
      const s = new Array<number>(nl).fill(0);
      spec.inputs[i]!.forEach((l, k) => { if (t.dims[k] !== 1) s[order.indexOf(l)] += st[k]!; });
      return s;
    });
    const vals = ts.map((t) => t.values);
    const outN = elementCount(dims.slice(0, spec.output.length));
    const inner = elementCount(dims.slice(spec.output.length));
    const out = new Float64Array(outN);
    const ctr = new Array<number>(nl).fill(0);
    const off = new Array<number>(ts.length).fill(0);
    const nops = ts.length;
    if (inner > 0) {
      for (let o = 0; o < outN; o++) {
        let acc = 0;
        for (let s = 0; s < inner; s++) {
          let p = 1;
          for (let q = 0; q < nops; q++) p *= vals[q]![off[q]!]!;
          acc += p;
          for (let k = nl - 1; k >= 0; k--) {
            ctr[k]! += 1;
            for (let q = 0; q < nops; q++) off[q]! += strides[q]![k]!;
            if (ctr[k]! < dims[k]!) break;
            for (let q = 0; q < nops; q++) off[q]! -= strides[q]![k]! * dims[k]!;
            ctr[k] = 0;
          }
        }
        out[o] = acc;
      }
    }
    return [TensorData.fromValues(ts[0]!.dtype, dims.slice(0, spec.output.length), out)];
  },
});
