// Ops that read their input at computed, fractional positions: GridSample, AffineGrid (which builds
// the grids GridSample reads), DeformConv (a convolution whose taps are moved by learned offsets)
// and NonMaxSuppression (greedy box selection, with a data-dependent output length).

import { isFloat } from '../ir/dtype.js';
import { defineOp, UnsupportedError } from '../ir/ops.js';
import type { Dim } from '../ir/types.js';
import { OpError, TensorData, elementCount, requireInput, stridesOf } from './common.js';
import { dimsInput, numbersInput } from './movement-util.js';
import { listAttr } from './pooling.js';

// ---------------------------------------------------------------------------------------------
// GridSample

const MODES = ['linear', 'nearest', 'cubic'];
const PADDINGS = ['zeros', 'border', 'reflection'];

/** Folds x into [lo, hi] by reflecting at the borders as often as needed. */
function reflect(x: number, lo: number, hi: number): number {
  const span = hi - lo;
  if (x >= lo && x <= hi) return x;
  if (span <= 0) return lo;
  const below = x < lo;
  const d = below ? lo - x : x - hi;
  const n = Math.floor(d / span);
  const r = d - n * span;
  // An even number of whole spans lands on the side the coordinate left from.
  return (n % 2 === 0) === below ? lo + r : hi - r;
}

/** Keys' cubic convolution weights (A = -0.75) for taps at -1, 0, 1, 2 from floor(x). */
function cubicWeights(t: number): number[] {
  const A = -0.75;
  const far = (d: number) => ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
  const near = (d: number) => ((A + 2) * d - (A + 3)) * d * d + 1;
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

interface Taps { idx: number[]; w: number[] }

/**
 * Samples `data` (spatial dims `dims`, row-major from `base`) at pixel coordinates `x` with the
 * given interpolation and padding; separable, so taps are the product of per-axis taps.
 */
function sampleAt(data: Float64Array, base: number, dims: readonly number[], x: number[], mode: string, padding: string, align: boolean): number {
  const r = dims.length;
  const taps: Taps[] = [];
  for (let i = 0; i < r; i++) {
    const lo = align ? 0 : -0.5;
    const hi = align ? dims[i]! - 1 : dims[i]! - 0.5;
    let v = x[i]!;
    if (mode === 'nearest') v = roundHalfEven(v);
    if (v < lo || v > hi) {
      if (padding === 'border') v = Math.min(Math.max(v, 0), dims[i]! - 1);
      else if (padding === 'reflection') v = reflect(v, lo, hi);
    }
    let t: Taps;
    if (mode === 'nearest') t = { idx: [Math.trunc(v)], w: [1] };
    else {
      const f = Math.floor(v);
      t = mode === 'linear' ? { idx: [f, f + 1], w: [1 - (v - f), v - f] } : { idx: [f - 1, f, f + 1, f + 2], w: cubicWeights(v - f) };
    }
    // Map each tap to a valid index (or -1 for a zero pad) per the padding mode.
    t.idx = t.idx.map((k) => {
      if (k >= 0 && k < dims[i]!) return k;
      if (padding === 'zeros') return -1;
      if (padding === 'border') return Math.min(Math.max(k, 0), dims[i]! - 1);
      return Math.trunc(reflect(k, lo, hi));
    });
    taps.push(t);
  }
  const strides = stridesOf(dims);
  let sum = 0;
  const visit = (axis: number, off: number, w: number): void => {
    if (axis === r) { sum += w * data[base + off]!; return; }
    const t = taps[axis]!;
    for (let j = 0; j < t.idx.length; j++) {
      if (t.idx[j]! < 0 || t.w[j] === 0) continue;
      visit(axis + 1, off + t.idx[j]! * strides[axis]!, w * t.w[j]!);
    }
  };
  visit(0, 0, 1);
  return sum;
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

defineOp({
  name: 'GridSample',
  fusionClass: 'opaque',
  inputs: [2, 2],
  outputs: [1, 1],
  onnxSince: 16,
  // Opsets 16-19 name the modes bilinear and bicubic.
  onnxLower(ctx) {
    const m = ctx.attrs.has('mode') ? ctx.attrs.string('mode') : undefined;
    const renamed = m === 'bilinear' ? 'linear' : m === 'bicubic' ? 'cubic' : m;
    const attrs = renamed === undefined ? ctx.attrs : ctx.attrs.with('mode', { kind: 'string', value: renamed });
    ctx.setOutputs(ctx.emit('GridSample', [...ctx.inputs], attrs, 1));
  },
  infer(ctx) {
    const x = ctx.input(0);
    const g = ctx.input(1);
    const mode = ctx.attrs.string('mode', 'linear');
    if (!MODES.includes(mode)) throw new OpError(`attribute 'mode' must be one of ${MODES.join(', ')}, got '${mode}'`);
    const pad = ctx.attrs.string('padding_mode', 'zeros');
    if (!PADDINGS.includes(pad)) throw new OpError(`attribute 'padding_mode' must be one of ${PADDINGS.join(', ')}, got '${pad}'`);
    if (x.shape.length < 3) throw new OpError(`GridSample input X must have rank >= 3, got [${x.shape.join(',')}]`);
    if (!isFloat(g.dtype)) throw new OpError(`GridSample input grid must be float, got ${g.dtype}`);
    const r = x.shape.length - 2;
    const last = g.shape[g.shape.length - 1];
    if (g.shape.length !== x.shape.length || (typeof last === 'number' && last !== r)) {
      throw new OpError(`GridSample grid must have shape [N, ${new Array(r).fill('*').join(', ')}, ${r}], got [${g.shape.join(',')}]`);
    }
    return [{ dtype: x.dtype, shape: [x.shape[0]!, x.shape[1]!, ...g.shape.slice(1, -1)] }];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'GridSample');
    const g = requireInput(inputs, 1, 'GridSample');
    const mode = attrs.string('mode', 'linear');
    const pad = attrs.string('padding_mode', 'zeros');
    const align = attrs.int('align_corners', 0) !== 0;
    const [N, C] = [x.dims[0]!, x.dims[1]!];
    const sp = x.dims.slice(2);
    const r = sp.length;
    const outSp = g.dims.slice(1, -1);
    const P = elementCount(outSp);
    const plane = elementCount(sp);
    const xv = x.values;
    const gv = g.values;
    const out = new Float64Array(N * C * P);
    const coord = new Array<number>(r);
    for (let n = 0; n < N; n++) {
      for (let p = 0; p < P; p++) {
        const gb = (n * P + p) * r;
        // Grid vectors list the innermost axis first (x, y[, z]).
        for (let i = 0; i < r; i++) {
          const nv = gv[gb + r - 1 - i]!;
          const L = sp[i]!;
          coord[i] = align ? ((nv + 1) / 2) * (L - 1) : ((nv + 1) * L - 1) / 2;
        }
        for (let c = 0; c < C; c++) out[(n * C + c) * P + p] = sampleAt(xv, (n * C + c) * plane, sp, coord, mode, pad, align);
      }
    }
    return [TensorData.fromValues(x.dtype, [N, C, ...outSp], out)];
  },
});

// ---------------------------------------------------------------------------------------------
// AffineGrid

defineOp({
  name: 'AffineGrid',
  fusionClass: 'opaque',
  inputs: [2, 2],
  outputs: [1, 1],
  onnxSince: 20,
  infer(ctx) {
    const theta = ctx.input(0);
    const size = ctx.input(1);
    if (!isFloat(theta.dtype)) throw new OpError(`AffineGrid input theta must be float, got ${theta.dtype}`);
    if (size.shape.length !== 1 || (typeof size.shape[0] === 'number' && size.shape[0] !== 4 && size.shape[0] !== 5)) {
      throw new OpError(`AffineGrid input size must have 4 or 5 elements, got shape [${size.shape.join(',')}]`);
    }
    const dims = dimsInput(ctx, 1);
    const n = dims?.length ?? size.shape[0];
    if (typeof n !== 'number') throw new UnsupportedError('AffineGrid needs the length of input size at compile time');
    const r = n - 2;
    const ok = theta.shape.length === 3 && [r, r + 1].every((v, k) => typeof theta.shape[k + 1] !== 'number' || theta.shape[k + 1] === v);
    if (!ok) throw new OpError(`AffineGrid input theta must have shape [N, ${r}, ${r + 1}], got [${theta.shape.join(',')}]`);
    const sp: Dim[] = dims ? dims.slice(2) : Array.from({ length: r }, () => ctx.freshDim());
    return [{ dtype: theta.dtype, shape: [theta.shape[0]!, ...sp, r] }];
  },
  evaluate(inputs, attrs) {
    const theta = requireInput(inputs, 0, 'AffineGrid');
    const size = requireInput(inputs, 1, 'AffineGrid').toArray();
    const align = attrs.int('align_corners', 0) !== 0;
    const N = theta.dims[0]!;
    const sp = size.slice(2);
    const r = sp.length;
    const P = elementCount(sp);
    const tv = theta.values;
    const out = new Float64Array(N * P * r);
    const base = (k: number, L: number) => (align ? (L > 1 ? -1 + (2 * k) / (L - 1) : 0) : (2 * k + 1) / L - 1);
    const idx = new Array<number>(r).fill(0);
    for (let p = 0; p < P; p++) {
      // Homogeneous point, innermost axis first: (x, y[, z], 1).
      const pt = [...idx.map((k, i) => base(k, sp[i]!)).reverse(), 1];
      for (let n = 0; n < N; n++) {
        for (let i = 0; i < r; i++) {
          let s = 0;
          for (let j = 0; j <= r; j++) s += tv[(n * r + i) * (r + 1) + j]! * pt[j]!;
          out[(n * P + p) * r + i] = s;
        }
      }
      for (let k = r - 1; k >= 0; k--) {
        if (++idx[k]! < sp[k]!) break;
        idx[k] = 0;
      }
    }
    return [TensorData.fromValues(theta.dtype, [N, ...sp, r], out)];
  },
});

// ---------------------------------------------------------------------------------------------
// DeformConv (2-D)

defineOp({
  name: 'DeformConv',
  fusionClass: 'opaque',
  inputs: [3, 5],
  outputs: [1, 1],
  onnxSince: 19,
  infer(ctx) {
    const x = ctx.input(0);
    const w = ctx.input(1);
    const off = ctx.input(2);
    if (!isFloat(x.dtype)) throw new OpError(`DeformConv input X must be float, got ${x.dtype}`);
    if (x.shape.length !== 4) throw new UnsupportedError(`DeformConv supports 2-D inputs [N, C, H, W] only, got [${x.shape.join(',')}]`);
    if (w.shape.length !== 4) throw new OpError(`DeformConv input W must have rank 4, got [${w.shape.join(',')}]`);
    if (off.shape.length !== 4) throw new OpError(`DeformConv input offset must have rank 4, got [${off.shape.join(',')}]`);
    const group = ctx.attrs.int('group', 1);
    if (typeof x.shape[1] === 'number' && typeof w.shape[1] === 'number' && x.shape[1] !== w.shape[1] * group) {
      throw new OpError(`DeformConv X has ${x.shape[1]} channels but W [${w.shape.join(',')}] with group=${group} expects ${w.shape[1] * group}`);
    }
    return [{ dtype: x.dtype, shape: [x.shape[0]!, w.shape[0]!, off.shape[2]!, off.shape[3]!] }];
  },
  evaluate(inputs, attrs) {
    const x = requireInput(inputs, 0, 'DeformConv');
    const w = requireInput(inputs, 1, 'DeformConv');
    const off = requireInput(inputs, 2, 'DeformConv');
    const [B, mask] = [inputs[3], inputs[4]];
    const [N, C, H, W] = x.dims as [number, number, number, number];
    const [M, Cg, KH, KW] = w.dims as [number, number, number, number];
    const [OH, OW] = [off.dims[2]!, off.dims[3]!];
    const group = attrs.int('group', 1);
    const og = attrs.int('offset_group', 1);
    const [sh, sw] = listAttr(attrs, 'strides', 2, 1);
    const [dh, dw] = listAttr(attrs, 'dilations', 2, 1);
    const pads = listAttr(attrs, 'pads', 4, 0);
    const K = KH * KW;
    if (off.dims[1] !== og * 2 * K) throw new OpError(`DeformConv offset has ${off.dims[1]} channels, expected offset_group*2*kH*kW = ${og * 2 * K}`);
    if (C % og !== 0) throw new OpError(`DeformConv: ${C} channels are not divisible by offset_group=${og}`);
    const xv = x.values;
    const wv = w.values;
    const ov = off.values;
    const mv = mask?.values;
    const Mg = M / group;
    const Cog = C / og;
    const out = new Float64Array(N * M * OH * OW);
    // Bilinear sample of one channel plane with zeros outside the image.
    const pix = (b: number, yy: number, xx: number) => (yy >= 0 && yy < H && xx >= 0 && xx < W ? xv[b + yy * W + xx]! : 0);
    const sample = (b: number, y: number, xq: number) => {
      const y0 = Math.floor(y);
      const x0 = Math.floor(xq);
      const fy = y - y0;
      const fx = xq - x0;
      return pix(b, y0, x0) * (1 - fy) * (1 - fx) + pix(b, y0, x0 + 1) * (1 - fy) * fx
        + pix(b, y0 + 1, x0) * fy * (1 - fx) + pix(b, y0 + 1, x0 + 1) * fy * fx;
    };
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const g = Math.floor(c / Cg);
        const o = Math.floor(c / Cog);
        const plane = (n * C + c) * H * W;
        for (let i = 0; i < OH; i++) {
          for (let j = 0; j < OW; j++) {
            for (let k = 0; k < K; k++) {
              const [ki, kj] = [Math.floor(k / KW), k % KW];
              const at = (ch: number) => ((n * off.dims[1]! + ch) * OH + i) * OW + j;
              const y = i * sh - pads[0]! + ki * dh + ov[at((o * K + k) * 2)]!;
              const xx = j * sw - pads[1]! + kj * dw + ov[at((o * K + k) * 2 + 1)]!;
              let v = sample(plane, y, xx);
              if (mv) v *= mv[((n * og * K + o * K + k) * OH + i) * OW + j]!;
              if (v === 0) continue;
              for (let m = g * Mg; m < (g + 1) * Mg; m++) out[((n * M + m) * OH + i) * OW + j] += v * wv[(m * Cg + (c - g * Cg)) * K + k]!;
            }
          }
        }
      }
    }
    if (B) {
      const bv = B.values;
      for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) for (let p = 0; p < OH * OW; p++) out[(n * M + m) * OH * OW + p] += bv[m]!;
    }
    return [TensorData.fromValues(x.dtype, [N, M, OH, OW], out)];
  },
});

// ---------------------------------------------------------------------------------------------
// NonMaxSuppression

/** Intersection over union of two boxes, 0 when they do not overlap or one is degenerate. */
function iou(b: Float64Array, i: number, j: number, center: boolean): number {
  const edges = (k: number): [number, number, number, number] => {
    const [a0, a1, a2, a3] = [b[k]!, b[k + 1]!, b[k + 2]!, b[k + 3]!];
    if (center) return [a0 - a2 / 2, a0 + a2 / 2, a1 - a3 / 2, a1 + a3 / 2];
    // Corner boxes are [y1, x1, y2, x2] with either corner first.
    return [Math.min(a1, a3), Math.max(a1, a3), Math.min(a0, a2), Math.max(a0, a2)];
  };
  const [ax0, ax1, ay0, ay1] = edges(i * 4);
  const [bx0, bx1, by0, by1] = edges(j * 4);
  const iw = Math.min(ax1, bx1) - Math.max(ax0, bx0);
  const ih = Math.min(ay1, by1) - Math.max(ay0, by0);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const aa = (ax1 - ax0) * (ay1 - ay0);
  const ab = (bx1 - bx0) * (by1 - by0);
  const union = aa + ab - inter;
  if (aa <= 0 || ab <= 0 || union <= 0) return 0;
  return inter / union;
}

const scalarOf = (t: TensorData | undefined, fallback: number) => (t && t.size > 0 ? t.values[0]! : fallback);

defineOp({
  name: 'NonMaxSuppression',
  fusionClass: 'opaque',
  inputs: [2, 5],
  outputs: [1, 1],
  onnxSince: 10,
  infer(ctx) {
    const boxes = ctx.input(0);
    const scores = ctx.input(1);
    const cpb = ctx.attrs.int('center_point_box', 0);
    if (cpb !== 0 && cpb !== 1) throw new OpError(`attribute 'center_point_box' must be 0 or 1, got ${cpb}`);
    if (boxes.shape.length !== 3 || (typeof boxes.shape[2] === 'number' && boxes.shape[2] !== 4)) {
      throw new OpError(`NonMaxSuppression input boxes must have shape [batch, boxes, 4], got [${boxes.shape.join(',')}]`);
    }
    if (scores.shape.length !== 3) throw new OpError(`NonMaxSuppression input scores must have shape [batch, classes, boxes], got [${scores.shape.join(',')}]`);
    const max = numbersInput(ctx, 2);
    return [{ dtype: 'i64', shape: [max && max[0] === 0 ? 0 : ctx.freshDim('selected'), 3] }];
  },
  evaluate(inputs, attrs) {
    const boxes = requireInput(inputs, 0, 'NonMaxSuppression');
    const scores = requireInput(inputs, 1, 'NonMaxSuppression');
    const maxOut = Math.max(0, scalarOf(inputs[2], 0));
    const iouT = scalarOf(inputs[3], 0);
    const hasScoreT = !!inputs[4] && inputs[4].size > 0;
    const scoreT = scalarOf(inputs[4], 0);
    const center = attrs.int('center_point_box', 0) === 1;
    const [B, NB] = [boxes.dims[0]!, boxes.dims[1]!];
    const NC = scores.dims[1]!;
    if (scores.dims[0] !== B || scores.dims[2] !== NB) {
      throw new OpError(`NonMaxSuppression scores of shape [${scores.dims}] do not match boxes of shape [${boxes.dims}]`);
    }
    const bv = boxes.values;
    const sv = scores.values;
    const out: number[] = [];
    for (let b = 0; b < B; b++) {
      const bb = bv.subarray(b * NB * 4, (b + 1) * NB * 4);
      for (let c = 0; c < NC; c++) {
        const s = (k: number) => sv[(b * NC + c) * NB + k]!;
        const cand: number[] = [];
        for (let k = 0; k < NB; k++) if (!hasScoreT || s(k) > scoreT) cand.push(k);
        // Highest score first; equal scores keep box order.
        cand.sort((p, q) => s(q) - s(p) || p - q);
        const chosen: number[] = [];
        for (const k of cand) {
          if (chosen.length >= maxOut) break;
          if (chosen.every((j) => !(iou(bb, k, j, center) > iouT))) {
            chosen.push(k);
            out.push(b, c, k);
          }
        }
      }
    }
    return [TensorData.fromValues('i64', [out.length / 3, 3], out)];
  },
});
