// Layout ops that rearrange blocks and regions: DepthToSpace/SpaceToDepth, ReverseSequence,
// CenterCropPad, Trilu and Col2Im. Like the movement ops, each output element reads one input
// element or a fill value (Col2Im sums overlapping blocks, so it is opaque).

import { defineOp, type InferContext } from '../ir/ops.js';
import type { Dim } from '../ir/types.js';
import { Attrs, OpError, TensorData, elementCount, stridesOf } from './common.js';
import { axesOf, dimsInput, forEachIndex, gatherBy, lengthOf, need, numbersInput, requireIndexType, same } from './movement-util.js';

// ---- DepthToSpace / SpaceToDepth ----

function blockMode(attrs: Attrs, op: string): [number, boolean] {
  const b = attrs.int('blocksize');
  if (b < 1) throw new OpError(`${op} blocksize ${b} must be positive`);
  const mode = attrs.string('mode', 'DCR');
  if (mode !== 'DCR' && mode !== 'CRD') throw new OpError(`${op} mode '${mode}' is not DCR or CRD`);
  return [b, mode === 'CRD'];
}

const mulDim = (d: Dim, b: number, ctx: InferContext): Dim => (typeof d === 'number' ? d * b : b === 1 ? d : ctx.freshDim());

defineOp({
  name: 'DepthToSpace',
  fusionClass: 'injective',
  inputs: [1, 1],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const [b] = blockMode(ctx.attrs, 'DepthToSpace');
    if (x.shape.length !== 4) throw new OpError(`DepthToSpace input must have rank 4, got [${x.shape.join(',')}]`);
    const [n, c, h, w] = x.shape as Dim[];
    if (typeof c === 'number' && c % (b * b) !== 0) throw new OpError(`DepthToSpace channels ${c} are not divisible by blocksize^2 = ${b * b}`);
    return [{ dtype: x.dtype, shape: [n!, typeof c === 'number' ? c / (b * b) : ctx.freshDim(), mulDim(h!, b, ctx), mulDim(w!, b, ctx)] }];
  },
  evaluate([x], attrs) {
    const t = need(x, 'DepthToSpace');
    const [b, crd] = blockMode(attrs, 'DepthToSpace');
    const [n, c, h, w] = t.dims as number[];
    const oc = c! / (b * b);
    return [gatherBy(t, [n!, oc, h! * b, w! * b], ([ni, ci, y, z]) => {
      const i = y! % b;
      const j = z! % b;
      const src = crd ? ci! * b * b + i * b + j : (i * b + j) * oc + ci!;
      return ((ni! * c! + src) * h! + Math.floor(y! / b)) * w! + Math.floor(z! / b);
    })];
  },
});

defineOp({
  name: 'SpaceToDepth',
  fusionClass: 'injective',
  inputs: [1, 1],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const [b] = blockMode(ctx.attrs, 'SpaceToDepth');
    if (x.shape.length !== 4) throw new OpError(`SpaceToDepth input must have rank 4, got [${x.shape.join(',')}]`);
    const [n, c, h, w] = x.shape as Dim[];
    const div = (d: Dim, what: string): Dim => {
      if (typeof d !== 'number') return b === 1 ? d : ctx.freshDim();
      if (d % b !== 0) throw new OpError(`SpaceToDepth ${what} ${d} is not divisible by blocksize ${b}`);
      return d / b;
    };
    return [{ dtype: x.dtype, shape: [n!, mulDim(c!, b * b, ctx), div(h!, 'height'), div(w!, 'width')] }];
  },
  evaluate([x], attrs) {
    const t = need(x, 'SpaceToDepth');
    const [b, crd] = blockMode(attrs, 'SpaceToDepth');
    const [n, c, h, w] = t.dims as number[];
    return [gatherBy(t, [n!, c! * b * b, h! / b, w! / b], ([ni, co, y, z]) => {
      const ci = crd ? Math.floor(co! / (b * b)) : co! % c!;
      const blk = crd ? co! % (b * b) : Math.floor(co! / c!);
      const i = Math.floor(blk / b);
      const j = blk % b;
      return ((ni! * c! + ci) * h! + y! * b + i) * w! + z! * b + j;
    })];
  },
});

// ---- ReverseSequence ----

defineOp({
  name: 'ReverseSequence',
  fusionClass: 'injective',
  inputs: [2, 2],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const tAxis = ctx.attrs.int('time_axis', 0);
    const bAxis = ctx.attrs.int('batch_axis', 1);
    if (x.shape.length < 2) throw new OpError(`ReverseSequence input must have rank >= 2, got [${x.shape.join(',')}]`);
    if (![0, 1].includes(tAxis) || ![0, 1].includes(bAxis) || tAxis === bAxis) {
      throw new OpError(`ReverseSequence time_axis ${tAxis} and batch_axis ${bAxis} must be 0 and 1 in some order`);
    }
    requireIndexType(ctx.input(1), 'ReverseSequence sequence_lens');
    return [same(x)];
  },
  evaluate([x, l], attrs) {
    const t = need(x, 'ReverseSequence');
    const lens = need(l, 'ReverseSequence sequence_lens').values;
    const tAxis = attrs.int('time_axis', 0);
    const bAxis = attrs.int('batch_axis', 1);
    const st = stridesOf(t.dims);
    return [gatherBy(t, t.dims, (idx) => {
      const len = lens[idx[bAxis]!]!;
      const ti = idx[tAxis]!;
      const src = ti < len ? len - 1 - ti : ti;
      return idx.reduce((a, v, k) => a + (k === tAxis ? src : v) * st[k]!, 0);
    })];
  },
});

// ---- CenterCropPad ----

function cropPadAxes(attrs: Attrs, rank: number, n: number): number[] {
  const axes = attrs.has('axes') ? axesOf(attrs.ints('axes'), rank, 'CenterCropPad axes') : Array.from({ length: rank }, (_, i) => i);
  if (axes.length !== n) throw new OpError(`CenterCropPad shape has ${n} entries for ${axes.length} axes`);
  return axes;
}

defineOp({
  name: 'CenterCropPad',
  fusionClass: 'injective',
  inputs: [2, 2],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const shape = dimsInput(ctx, 1);
    if (!shape) {
      const axes = ctx.attrs.has('axes') ? axesOf(ctx.attrs.ints('axes'), x.shape.length, 'CenterCropPad axes') : x.shape.map((_, i) => i);
      return [{ dtype: x.dtype, shape: x.shape.map((d, k) => (axes.includes(k) ? ctx.freshDim() : d)) }];
    }
    const axes = cropPadAxes(ctx.attrs, x.shape.length, shape.length);
    const out = [...x.shape];
    axes.forEach((a, i) => (out[a] = shape[i]!));
    return [{ dtype: x.dtype, shape: out }];
  },
  evaluate([x, s], attrs) {
    const t = need(x, 'CenterCropPad');
    const shape = need(s, 'CenterCropPad shape').toArray();
    const axes = cropPadAxes(attrs, t.rank, shape.length);
    const dims = [...t.dims];
    const off = t.dims.map(() => 0);
    axes.forEach((a, i) => {
      dims[a] = shape[i]!;
      const d = t.dims[a]!;
      // Cropping starts at floor((d - target)/2); padding puts floor((target - d)/2) before.
      off[a] = d >= shape[i]! ? Math.floor((d - shape[i]!) / 2) : -Math.floor((shape[i]! - d) / 2);
    });
    const st = stridesOf(t.dims);
    return [gatherBy(t, dims, (idx) => {
      let f = 0;
      for (let k = 0; k < idx.length; k++) {
        const j = idx[k]! + off[k]!;
        if (j < 0 || j >= t.dims[k]!) return -1;
        f += j * st[k]!;
      }
      return f;
    })];
  },
});

// ---- Trilu ----

defineOp({
  name: 'Trilu',
  fusionClass: 'injective',
  inputs: [1, 2],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    if (x.shape.length < 2) throw new OpError(`Trilu input must have rank >= 2, got [${x.shape.join(',')}]`);
    return [same(x)];
  },
  evaluate([x, kt], attrs) {
    const t = need(x, 'Trilu');
    const k = kt && kt.size > 0 ? kt.values[0]! : 0;
    const upper = attrs.int('upper', 1) !== 0;
    const r = t.rank;
    return [gatherBy(t, t.dims, (idx) => {
      const d = idx[r - 1]! - idx[r - 2]!;
      const keep = upper ? d >= k : d <= k;
      return keep ? idx.reduce((a, v, i) => a * t.dims[i]! + v, 0) : -1;
    })];
  },
});

// ---- Col2Im ----

defineOp({
  name: 'Col2Im',
  fusionClass: 'opaque',
  inputs: [3, 3],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    if (x.shape.length !== 3) throw new OpError(`Col2Im input must have rank 3, got [${x.shape.join(',')}]`);
    const image = dimsInput(ctx, 1);
    const block = numbersInput(ctx, 2);
    if (!image || !block) {
      const n = lengthOf(ctx.input(1), 'Col2Im image_shape');
      if (n === undefined) throw new OpError('Col2Im image_shape input must be a compile-time constant or have a static length');
      return [{ dtype: x.dtype, shape: [x.shape[0]!, ctx.freshDim(), ...Array.from({ length: n }, () => ctx.freshDim())] }];
    }
    const cb = x.shape[1]!;
    const bs = block.reduce((a, b) => a * b, 1);
    if (typeof cb === 'number' && cb % bs !== 0) throw new OpError(`Col2Im input channels ${cb} are not divisible by the block size ${bs}`);
    return [{ dtype: x.dtype, shape: [x.shape[0]!, typeof cb === 'number' ? cb / bs : ctx.freshDim(), ...image] }];
  },
  evaluate([x, im, bl], attrs) {
    const t = need(x, 'Col2Im');
    const image = need(im, 'Col2Im image_shape').toArray();
    const block = need(bl, 'Col2Im block_shape').toArray();
    const nd = image.length;
    const strides = attrs.ints('strides', new Array(nd).fill(1));
    const dil = attrs.ints('dilations', new Array(nd).fill(1));
    const pads = attrs.ints('pads', new Array(2 * nd).fill(0));
    const [n, cb, L] = t.dims as number[];
    const bs = elementCount(block);
    const c = cb! / bs;
    // Number of block positions along each spatial axis.
    const pos = image.map((d, i) => Math.floor((d + pads[i]! + pads[i + nd]! - dil[i]! * (block[i]! - 1) - 1) / strides[i]!) + 1);
    if (elementCount(pos) !== L) throw new OpError(`Col2Im input has ${L} blocks, the image and block shapes give ${elementCount(pos)}`);
    const out = new Float64Array(n! * c * elementCount(image));
    const src = t.values;
    const imgSt = stridesOf(image);
    const imgN = elementCount(image);
    for (let ni = 0; ni < n!; ni++) {
      for (let ch = 0; ch < cb!; ch++) {
        const ci = Math.floor(ch / bs);
        const bOff = [...block.keys()].map((i) => Math.floor((ch % bs) / stridesOf(block)[i]!) % block[i]!);
        forEachIndex(pos, (p, l) => {
          let f = 0;
          for (let i = 0; i < nd; i++) {
            const y = p[i]! * strides[i]! - pads[i]! + bOff[i]! * dil[i]!;
            if (y < 0 || y >= image[i]!) return;
            f += y * imgSt[i]!;
          }
          out[(ni * c + ci) * imgN + f] += src[(ni * cb! + ch) * L! + l]!;
        });
      }
    }
    return [TensorData.fromValues(t.dtype, [n!, c, ...image], out)];
  },
});
