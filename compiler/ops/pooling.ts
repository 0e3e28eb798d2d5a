// Pooling over spatial windows (MaxPool with its Indices output, AveragePool, LpPool), their global
// forms, MaxUnpool and RoiAlign. Also home of the window geometry (strides, dilations, pads,
// auto_pad, ceil_mode) that convolutions share, so both families size their outputs identically.

import { isFloat } from '../ir/dtype.js';
import { defineOp, type InferContext } from '../ir/ops.js';
import type { Dim, TensorType } from '../ir/types.js';
import { Attrs, OpError, TensorData, elementCount, requireInput } from './common.js';

// ---------------------------------------------------------------------------------------------
// Window geometry

export interface WindowPlan {
  strides: number[];
  dilations: number[];
  /** Begin pads then end pads; for symbolic dims under SAME_* they are unknown and given as 0. */
  pads: number[];
  out: Dim[];
}

/**
 * Output spatial dims and effective pads of a sliding window (Conv and the pools). `ceil` rounds the
 * window count up (pooling's ceil_mode) without letting a window start in the end padding.
 */
export function planWindow(
  attrs: Attrs, inDims: readonly Dim[], kernel: readonly number[], ceil: boolean, fresh?: (hint: string) => Dim,
): WindowPlan {
  const n = inDims.length;
  const strides = listAttr(attrs, 'strides', n, 1);
  const dilations = listAttr(attrs, 'dilations', n, 1);
  const autoPad = attrs.string('auto_pad', 'NOTSET');
  let pads = [...attrs.ints('pads', new Array(2 * n).fill(0))];
  if (pads.length !== 2 * n) throw new OpError(`attribute 'pads' needs ${2 * n} values, got [${pads.join(',')}]`);
  if (kernel.length !== n) throw new OpError(`kernel_shape [${kernel.join(',')}] does not match ${n} spatial dims`);
  for (const [what, v] of [['strides', strides], ['dilations', dilations], ['kernel_shape', kernel]] as const) {
    if (v.some((x) => !Number.isInteger(x) || x < 1)) throw new OpError(`attribute '${what}' must be positive, got [${v.join(',')}]`);
  }
  if (pads.some((p) => p < 0)) throw new OpError(`attribute 'pads' must be non-negative, got [${pads.join(',')}]`);
  const out: Dim[] = [];
  if (autoPad === 'VALID') pads = new Array(2 * n).fill(0);
  for (let i = 0; i < n; i++) {
    const d = inDims[i]!;
    const span = (kernel[i]! - 1) * dilations[i]! + 1;
    const s = strides[i]!;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      if (typeof d !== 'number') {
        out.push(s === 1 ? d : fresh ? fresh('w') : d);
        pads[i] = pads[n + i] = 0;
        continue;
      }
      const o = Math.ceil(d / s);
      const total = Math.max(0, (o - 1) * s + span - d);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[n + i] = total - pads[i]!;
      out.push(o);
    } else if (autoPad === 'NOTSET' || autoPad === 'VALID') {
      const padded = pads[i]! + pads[n + i]!;
      if (typeof d !== 'number') {
        out.push(span === 1 && s === 1 && padded === 0 ? d : fresh ? fresh('w') : d);
        continue;
      }
      const room = d + padded - span;
      if (room < 0) throw new OpError(`window of span ${span} does not fit spatial dim ${d} with pads ${padded}`);
      let o = (ceil ? Math.ceil(room / s) : Math.floor(room / s)) + 1;
      if (ceil && (o - 1) * s >= d + pads[i]!) o -= 1;
      out.push(o);
    } else {
      throw new OpError(`attribute 'auto_pad' has unknown value '${autoPad}'`);
    }
  }
  return { strides, dilations, pads, out };
}

export function listAttr(attrs: Attrs, name: string, n: number, fill: number): number[] {
  const v = [...attrs.ints(name, new Array(n).fill(fill))];
  if (v.length !== n) throw new OpError(`attribute '${name}' needs ${n} values, got [${v.join(',')}]`);
  return v;
}

/** Pads a per-spatial-dim list to three dims (leading `fill`s) so kernels loop over exactly 3-D. */
export function to3(v: readonly number[], fill: number): number[] {
  return [...new Array(3 - v.length).fill(fill), ...v];
}

/** For each kernel tap k, the output range [lo, hi) whose input index o*s - pad + k*d is in [0, size). */
export function tapRanges(size: number, outSize: number, k: number, s: number, d: number, pad: number): Int32Array {
  const r = new Int32Array(2 * k);
  for (let t = 0; t < k; t++) {
    const off = t * d - pad;
    const lo = Math.max(0, Math.ceil(-off / s));
    const hi = Math.min(outSize, Math.floor((size - 1 - off) / s) + 1);
    r[2 * t] = lo;
    r[2 * t + 1] = Math.max(lo, hi);
  }
  return r;
}

function spatialInput(ctx: InferContext, op: string): TensorType {
  const x = ctx.input(0);
  if (x.shape.length < 3) throw new OpError(`${op} input X must have rank >= 3 (N, C, spatial...), got [${x.shape}]`);
  return x;
}

function poolKernel(attrs: Attrs, spatial: number): number[] {
  const k = [...attrs.ints('kernel_shape')];
  if (k.length !== spatial) throw new OpError(`attribute 'kernel_shape' [${k}] does not match ${spatial} spatial dims`);
  return k;
}

type PoolKind = 'max' | 'avg' | 'lp';

/**
 * Windowed pooling over 1-3 spatial dims in float64. Padding never contributes a value; for
 * averages it counts toward the divisor only with count_include_pad, and only inside the explicit
 * pads (not the extra room ceil_mode adds).
 */
function pool(kind: PoolKind, x: TensorData, attrs: Attrs, wantIndices: boolean) {
  const sp = x.dims.slice(2);
  const n = sp.length;
  const kernel = poolKernel(attrs, n);
  const plan = planWindow(attrs, sp, kernel, attrs.int('ceil_mode', 0) !== 0);
  const outSp = plan.out as number[];
  const [D, H, W] = to3(sp, 1) as [number, number, number];
  const [KD, KH, KW] = to3(kernel, 1) as [number, number, number];
  const [OD, OH, OW] = to3(outSp, 1) as [number, number, number];
  const [sd, sh, sw] = to3(plan.strides, 1) as [number, number, number];
  const [dd, dh, dw] = to3(plan.dilations, 1) as [number, number, number];
  const [pd, ph, pw] = to3(plan.pads.slice(0, n), 0) as [number, number, number];
  const [ed, eh, ew] = to3(plan.pads.slice(n), 0) as [number, number, number];
  const includePad = attrs.int('count_include_pad', 0) !== 0;
  const p = kind === 'lp' ? attrs.float('p', 2) : 1;
  const colMajor = attrs.int('storage_order', 0) !== 0;
  const NC = x.dims[0]! * x.dims[1]!;
  const inPlane = D * H * W;
  const outPlane = OD * OH * OW;
  const v = x.values;
  const out = new Float64Array(NC * outPlane);
  const idx = wantIndices ? new Float64Array(NC * outPlane) : undefined;
  // Window taps clipped to the input (valid) and to the explicitly padded input (for the divisor).
  const taps = (o: number, s: number, pad: number, k: number, dil: number, size: number, endPad: number) => {
    let lo = -1, hi = -1, padded = 0;
    for (let t = 0; t < k; t++) {
      const i = o * s - pad + t * dil;
      if (i >= -pad && i < size + endPad) padded++;
      if (i >= 0 && i < size) { if (lo < 0) lo = t; hi = t + 1; }
    }
    return lo < 0 ? [0, 0, padded] : [lo, hi, padded];
  };
  const tD = Array.from({ length: OD }, (_, o) => taps(o, sd, pd, KD, dd, D, ed));
  const tH = Array.from({ length: OH }, (_, o) => taps(o, sh, ph, KH, dh, H, eh));
  const tW = Array.from({ length: OW }, (_, o) => taps(o, sw, pw, KW, dw, W, ew));
  for (let c = 0; c < NC; c++) {
    const xb = c * inPlane;
    for (let od = 0; od < OD; od++) {
      const [d0, d1, dp] = tD[od]!;
      for (let oh = 0; oh < OH; oh++) {
        const [h0, h1, hp] = tH[oh]!;
        for (let ow = 0; ow < OW; ow++) {
          const [w0, w1, wp] = tW[ow]!;
          let acc = kind === 'max' ? -Infinity : 0;
          let at = -1;
          let cnt = 0;
          for (let kd = d0!; kd < d1!; kd++) {
            const id = od * sd - pd + kd * dd;
            for (let kh = h0!; kh < h1!; kh++) {
              const ih = oh * sh - ph + kh * dh;
              const row = xb + (id * H + ih) * W;
              for (let kw = w0!; kw < w1!; kw++) {
                const iw = ow * sw - pw + kw * dw;
                const a = v[row + iw]!;
                if (kind === 'max') {
                  if (a > acc || at < 0) { acc = a; at = colMajor ? id + (ih + iw * H) * D : row + iw - xb; }
                } else if (kind === 'avg') { acc += a; cnt++; } else acc += Math.pow(Math.abs(a), p);
              }
            }
          }
          const oi = c * outPlane + (od * OH + oh) * OW + ow;
          if (kind === 'avg') acc /= includePad ? dp! * hp! * wp! : cnt;
          else if (kind === 'lp') acc = Math.pow(acc, 1 / p);
          out[oi] = acc;
          if (idx) idx[oi] = c * inPlane + at;
        }
      }
    }
  }
  const dims = [x.dims[0]!, x.dims[1]!, ...outSp];
  const res = [TensorData.fromValues(x.dtype, dims, out)];
  if (idx) res.push(TensorData.fromValues('i64', dims, idx));
  return res;
}

function definePool(name: string, kind: PoolKind, onnxSince = 1): void {
  defineOp({
    name,
    fusionClass: 'reduction',
    inputs: [1, 1],
    outputs: kind === 'max' ? [1, 2] : [1, 1],
    onnxSince,
    infer(ctx) {
      const x = spatialInput(ctx, name);
      if (kind !== 'max' && !isFloat(x.dtype)) throw new OpError(`${name} needs a float input, got ${x.dtype}`);
      if (x.dtype === 'bool') throw new OpError(`${name} does not accept bool inputs`);
      const kernel = poolKernel(ctx.attrs, x.shape.length - 2);
      const plan = planWindow(ctx.attrs, x.shape.slice(2), kernel, ctx.attrs.int('ceil_mode', 0) !== 0, ctx.freshDim);
      const shape = [x.shape[0]!, x.shape[1]!, ...plan.out];
      return kind === 'max' ? [{ dtype: x.dtype, shape }, { dtype: 'i64', shape }] : [{ dtype: x.dtype, shape }];
    },
    evaluate(inputs, attrs, outputCount) {
      return pool(kind, requireInput(inputs, 0, name), attrs, outputCount > 1);
    },
  });
}

definePool('MaxPool', 'max');
definePool('AveragePool', 'avg');
definePool('LpPool', 'lp', 2);

// ---------------------------------------------------------------------------------------------
// Global pools

for (const [name, kind] of [['GlobalAveragePool', 'avg'], ['GlobalMaxPool', 'max'], ['GlobalLpPool', 'lp']] as const) {
  defineOp({
    name,
    fusionClass: 'reduction',
    inputs: [1, 1],
    outputs: [1, 1],
    onnxSince: kind === 'lp' ? 2 : 1,
    infer(ctx) {
      const x = spatialInput(ctx, name);
      if (!isFloat(x.dtype)) throw new OpError(`${name} needs a float input, got ${x.dtype}`);
      return [{ dtype: x.dtype, shape: x.shape.map((d, k) => (k < 2 ? d : 1)) }];
    },
    evaluate(inputs, attrs) {
      const x = requireInput(inputs, 0, name);
      const NC = x.dims[0]! * x.dims[1]!;
      const plane = elementCount(x.dims.slice(2));
      const p = attrs.float('p', 2);
      const v = x.values;
      const out = new Float64Array(NC);
      for (let c = 0; c < NC; c++) {
        const b = c * plane;
        let acc = kind === 'max' ? -Infinity : 0;
        for (let j = 0; j < plane; j++) {
          const a = v[b + j]!;
          if (kind === 'max') { if (a > acc || a !== a) acc = a; } else acc += kind === 'avg' ? a : Math.pow(Math.abs(a), p);
        }
        out[c] = kind === 'avg' ? acc / plane : kind === 'lp' ? Math.pow(acc, 1 / p) : acc;
      }
      return [TensorData.fromValues(x.dtype, x.dims.map((d, k) => (k < 2 ? d : 1)), out)];
    },
  });
}

// ---------------------------------------------------------------------------------------------
// MaxUnpool

/** Spatial output dims MaxUnpool infers without an output_shape input: the inverse of MaxPool's sizing. */
function unpoolDims(attrs: Attrs, sp: readonly Dim[], fresh?: (h: string) => Dim): Dim[] {
  const n = sp.length;
  const kernel = poolKernel(attrs, n);
  const strides = [...attrs.ints('strides', new Array(n).fill(1))];
  const pads = [...attrs.ints('pads', new Array(2 * n).fill(0))];
  if (strides.length !== n || pads.length !== 2 * n) throw new OpError(`attributes 'strides' [${strides}] and 'pads' [${pads}] do not match ${n} spatial dims`);
  return sp.map((d, i) => (typeof d === 'number' ? (d - 1) * strides[i]! + kernel[i]! - pads[i]! - pads[n + i]! : fresh ? fresh('u') : d));
}

defineOp({
  name: 'MaxUnpool',
  fusionClass: 'opaque',
  inputs: [2, 3],
  outputs: [1, 1],
  onnxSince: 9,
  infer(ctx) {
    const x = spatialInput(ctx, 'MaxUnpool');
    const ind = ctx.input(1);
    if (ind.dtype !== 'i64') throw new OpError(`MaxUnpool input 'I' must be i64, got ${ind.dtype}`);
    if (ind.shape.length !== x.shape.length) throw new OpError(`MaxUnpool input 'I' of shape [${ind.shape}] does not match X [${x.shape}]`);
    const os = ctx.optionalInput(2);
    if (os) {
      if (os.shape.length !== 1 || (typeof os.shape[0] === 'number' && os.shape[0] !== x.shape.length)) {
        throw new OpError(`MaxUnpool input 'output_shape' must be 1-D of ${x.shape.length} elements, got [${os.shape}]`);
      }
      const known = ctx.shapeValue(2);
      return [{ dtype: x.dtype, shape: known ?? x.shape.map((_, k) => ctx.freshDim(k < 2 ? 'n' : 'u')) }];
    }
    return [{ dtype: x.dtype, shape: [x.shape[0]!, x.shape[1]!, ...unpoolDims(ctx.attrs, x.shape.slice(2), ctx.freshDim)] }];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'MaxUnpool');
    const ind = requireInput(inputs, 1, 'MaxUnpool').values;
    const inferred = [x.dims[0]!, x.dims[1]!, ...(unpoolDims(attrs, x.dims.slice(2)) as number[])];
    const dims = inputs[2] ? inputs[2].toArray() : inferred;
    // Indices address the inferred (unpadded) layout, which then sits at the origin of output_shape.
    const inStrides = inferred.map((_, k) => elementCount(inferred.slice(k + 1)));
    const outStrides = dims.map((_, k) => elementCount(dims.slice(k + 1)));
    const total = elementCount(inferred);
    const out = new Float64Array(elementCount(dims));
    const v = x.values;
    for (let i = 0; i < v.length; i++) {
      let f = ind[i]!;
      if (f < 0 || f >= total) throw new OpError(`MaxUnpool index ${f} is out of range for shape [${inferred}]`);
      let o = 0;
      for (let k = 0; k < inferred.length; k++) {
        const q = Math.floor(f / inStrides[k]!);
        f -= q * inStrides[k]!;
        if (q >= dims[k]!) { o = -1; break; }
        o += q * outStrides[k]!;
      }
      if (o >= 0) out[o] = v[i]!;
    }
    return [TensorData.fromValues(x.dtype, dims, out)];
  },
});

// ---------------------------------------------------------------------------------------------
// RoiAlign

/** Bilinear sample weights and flat offsets of the four neighbours of (y, x), or undefined outside. */
function bilinear(y: number, x: number, H: number, W: number): [number, number, number, number, number, number, number, number] | undefined {
  if (y < -1 || y > H || x < -1 || x > W) return undefined;
  y = Math.max(y, 0);
  x = Math.max(x, 0);
  let y0 = Math.floor(y);
  let x0 = Math.floor(x);
  let y1 = y0 + 1;
  let x1 = x0 + 1;
  if (y0 >= H - 1) { y0 = y1 = H - 1; y = y0; }
  if (x0 >= W - 1) { x0 = x1 = W - 1; x = x0; }
  const ly = y - y0, lx = x - x0, hy = 1 - ly, hx = 1 - lx;
  return [hy * hx, hy * lx, ly * hx, ly * lx, y0 * W + x0, y0 * W + x1, y1 * W + x0, y1 * W + x1];
}

defineOp({
  name: 'RoiAlign',
  fusionClass: 'opaque',
  inputs: [3, 3],
  outputs: [1, 1],
  onnxSince: 10,
  // Opset 16 added coordinate_transformation_mode, whose default changed to half_pixel.
  onnxLower(ctx) {
    const attrs = ctx.opset < 16 && !ctx.attrs.has('coordinate_transformation_mode')
      ? ctx.attrs.with('coordinate_transformation_mode', { kind: 'string', value: 'output_half_pixel' })
      : ctx.attrs;
    ctx.setOutputs(ctx.emit('RoiAlign', [...ctx.inputs], attrs, 1));
  },
  infer(ctx) {
    const x = ctx.input(0);
    if (!isFloat(x.dtype)) throw new OpError(`RoiAlign needs a float input, got ${x.dtype}`);
    if (x.shape.length !== 4) throw new OpError(`RoiAlign input X must be 4-D, got [${x.shape}]`);
    const rois = ctx.input(1);
    if (rois.shape.length !== 2 || (typeof rois.shape[1] === 'number' && rois.shape[1] !== 4)) throw new OpError(`RoiAlign input 'rois' must have shape [num_rois,4], got [${rois.shape}]`);
    const bi = ctx.input(2);
    if (bi.shape.length !== 1) throw new OpError(`RoiAlign input 'batch_indices' must be 1-D, got [${bi.shape}]`);
    const mode = ctx.attrs.string('mode', 'avg');
    if (mode !== 'avg' && mode !== 'max') throw new OpError(`RoiAlign attribute 'mode' must be avg or max, got '${mode}'`);
    return [{ dtype: x.dtype, shape: [rois.shape[0]!, x.shape[1]!, ctx.attrs.int('output_height', 1), ctx.attrs.int('output_width', 1)] }];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'RoiAlign');
    const rois = requireInput(inputs, 1, 'RoiAlign').values;
    const bidx = requireInput(inputs, 2, 'RoiAlign').values;
    const [N, C, H, W] = x.dims as [number, number, number, number];
    const OH = attrs.int('output_height', 1);
    const OW = attrs.int('output_width', 1);
    const ratio = attrs.int('sampling_ratio', 0);
    const scale = attrs.float('spatial_scale', 1);
    const isMax = attrs.string('mode', 'avg') === 'max';
    const halfPixel = attrs.string('coordinate_transformation_mode', 'half_pixel') === 'half_pixel';
    const offset = halfPixel ? 0.5 : 0;
    const R = bidx.length;
    const v = x.values;
    const out = new Float64Array(R * C * OH * OW);
    for (let r = 0; r < R; r++) {
      const b = bidx[r]!;
      if (b < 0 || b >= N) throw new OpError(`RoiAlign batch index ${b} is out of range for batch ${N}`);
      const sx = rois[4 * r]! * scale - offset;
      const sy = rois[4 * r + 1]! * scale - offset;
      let rw = rois[4 * r + 2]! * scale - offset - sx;
      let rh = rois[4 * r + 3]! * scale - offset - sy;
      if (!halfPixel) { rw = Math.max(rw, 1); rh = Math.max(rh, 1); }
      const bh = rh / OH;
      const bw = rw / OW;
      const gh = ratio > 0 ? ratio : Math.ceil(rh / OH);
      const gw = ratio > 0 ? ratio : Math.ceil(rw / OW);
      const count = Math.max(gh * gw, 1);
      // Sample points are shared by every channel: compute them once per bin.
      for (let ph = 0; ph < OH; ph++) {
        for (let pw = 0; pw < OW; pw++) {
          const samples: number[][] = [];
          for (let iy = 0; iy < gh; iy++) {
            const yy = sy + ph * bh + ((iy + 0.5) * bh) / gh;
            for (let ix = 0; ix < gw; ix++) {
              const s = bilinear(yy, sx + pw * bw + ((ix + 0.5) * bw) / gw, H, W);
              if (s) samples.push(s);
            }
          }
          for (let c = 0; c < C; c++) {
            const base = (b * C + c) * H * W;
            let acc = isMax && samples.length ? -Infinity : 0;
            for (const s of samples) {
              const t = [s[0]! * v[base + s[4]!]!, s[1]! * v[base + s[5]!]!, s[2]! * v[base + s[6]!]!, s[3]! * v[base + s[7]!]!];
              // max mode takes the largest weighted corner, as onnxruntime does.
              acc = isMax ? Math.max(acc, t[0]!, t[1]!, t[2]!, t[3]!) : acc + t[0]! + t[1]! + t[2]! + t[3]!;
            }
            out[((r * C + c) * OH + ph) * OW + pw] = isMax ? acc : acc / count;
          }
        }
      }
    }
    return [TensorData.fromValues(x.dtype, [R, C, OH, OW], out)];
  },
});
