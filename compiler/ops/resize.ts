// Resize (nearest, linear and cubic interpolation, with every coordinate transformation mode,
// antialiasing, axes and aspect-ratio policies) and the older Upsample, lowered to Resize. The
// reference implementation resizes one axis at a time, as ONNX's own reference does.

import { defineOp, type InferContext, type LowerContext } from '../ir/ops.js';
import type { Attrs } from '../ir/graph.js';
import type { Dim } from '../ir/types.js';
import { OpError, TensorData, elementCount, normalizeAxis } from './common.js';
import { need, numbersInput } from './movement-util.js';

const MODES = ['nearest', 'linear', 'cubic'];
const COORD_MODES = ['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_crop_and_resize', 'tf_half_pixel_for_nn'];
const NEAREST_MODES = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];
const POLICIES = ['stretch', 'not_larger', 'not_smaller'];

interface ResizeOptions {
  mode: string;
  coord: string;
  nearest: string;
  cubicA: number;
  excludeOutside: boolean;
  extrapolation: number;
  antialias: boolean;
  policy: string;
}

function oneOf(attrs: Attrs, name: string, fallback: string, allowed: readonly string[]): string {
  const v = attrs.string(name, fallback);
  if (!allowed.includes(v)) throw new OpError(`Resize ${name} '${v}' is not one of ${allowed.join(', ')}`);
  return v;
}

function optionsOf(attrs: Attrs): ResizeOptions {
  return {
    mode: oneOf(attrs, 'mode', 'nearest', MODES),
    coord: oneOf(attrs, 'coordinate_transformation_mode', 'half_pixel', COORD_MODES),
    nearest: oneOf(attrs, 'nearest_mode', 'round_prefer_floor', NEAREST_MODES),
    cubicA: attrs.float('cubic_coeff_a', -0.75),
    excludeOutside: attrs.int('exclude_outside', 0) !== 0,
    extrapolation: attrs.float('extrapolation_value', 0),
    antialias: attrs.int('antialias', 0) !== 0,
    policy: oneOf(attrs, 'keep_aspect_ratio_policy', 'stretch', POLICIES),
  };
}

function axesOf(attrs: Attrs, rank: number): number[] {
  if (!attrs.has('axes')) return Array.from({ length: rank }, (_, i) => i);
  const axes = attrs.ints('axes').map((a) => normalizeAxis(a, rank, 'Resize axes'));
  if (new Set(axes).size !== axes.length) throw new OpError(`Resize axes [${attrs.ints('axes').join(',')}] repeat an axis`);
  return axes;
}

/** Per-axis scales and output sizes over all axes, from the scales or sizes given for `axes`. */
function plan(dims: readonly number[], axes: readonly number[], scalesIn: readonly number[] | undefined, sizesIn: readonly number[] | undefined, policy: string): { scales: number[]; sizes: number[] } {
  const scales = dims.map(() => 1);
  const sizes = [...dims];
  if (sizesIn) {
    if (sizesIn.length !== axes.length) throw new OpError(`Resize sizes [${sizesIn.join(',')}] must have ${axes.length} entries`);
    axes.forEach((a, i) => {
      sizes[a] = sizesIn[i]!;
      scales[a] = sizesIn[i]! / dims[a]!;
    });
    if (policy !== 'stretch') {
      const s = axes.map((a) => scales[a]!);
      const scale = policy === 'not_larger' ? Math.min(...s) : Math.max(...s);
      for (const a of axes) {
        scales[a] = scale;
        sizes[a] = Math.floor(scale * dims[a]! + 0.5);
      }
    }
  } else if (scalesIn) {
    if (scalesIn.length !== axes.length) throw new OpError(`Resize scales [${scalesIn.join(',')}] must have ${axes.length} entries`);
    axes.forEach((a, i) => {
      if (!(scalesIn[i]! > 0)) throw new OpError(`Resize scales [${scalesIn.join(',')}] must be positive`);
      scales[a] = scalesIn[i]!;
      sizes[a] = Math.floor(scalesIn[i]! * dims[a]!);
    });
  } else {
    throw new OpError('Resize needs scales or sizes');
  }
  return { scales, sizes };
}

/** Interpolation weights for the neighbours of a source coordinate with fractional part `ratio` in (0, 1]. */
function coefficients(o: ResizeOptions, ratio: number, scale: number): number[] {
  if (o.mode === 'nearest') {
    if (ratio === 1) return [0, 1];
    switch (o.nearest) {
      case 'round_prefer_floor': return ratio <= 0.5 ? [1, 0] : [0, 1];
      case 'round_prefer_ceil': return ratio < 0.5 ? [1, 0] : [0, 1];
      case 'floor': return [1, 0];
      default: return [0, 1];
    }
  }
  if (o.mode === 'linear') {
    if (!o.antialias) return [1 - ratio, ratio];
    // Antialiasing widens the kernel by 1/scale when downsampling.
    const s = Math.min(scale, 1);
    const start = Math.floor(-1 / s) + 1;
    const c = Array.from({ length: 2 - 2 * start }, (_, k) => Math.min(Math.max(1 - Math.abs((start + k - ratio) * s), 0), 1));
    const sum = c.reduce((a, b) => a + b, 0);
    return c.map((x) => x / sum);
  }
  const A = o.cubicA;
  const kernel = (x0: number) => {
    const x = Math.abs(x0);
    if (x <= 1) return (A + 2) * x ** 3 - (A + 3) * x * x + 1;
    if (x < 2) return A * x ** 3 - 5 * A * x * x + 8 * A * x - 4 * A;
    return 0;
  };
  if (!o.antialias) return [kernel(ratio + 1), kernel(ratio), kernel(1 - ratio), kernel(2 - ratio)];
  const s = Math.min(scale, 1);
  const start = Math.floor(-2 / s) + 1;
  const c = Array.from({ length: 2 - 2 * start }, (_, k) => kernel(s * (start + k - ratio)));
  const sum = c.reduce((a, b) => a + b, 0);
  return c.map((x) => x / sum);
}

/** Source coordinate of output position y along an axis, or undefined where it extrapolates. */
function sourceCoord(o: ResizeOptions, y: number, scale: number, inW: number, outW: number, roi: [number, number] | undefined): number | undefined {
  const outF = scale * inW;
  switch (o.coord) {
    case 'align_corners': return outF === 1 ? 0 : (y * (inW - 1)) / (outF - 1);
    case 'asymmetric': return y / scale;
    case 'tf_half_pixel_for_nn': return (y + 0.5) / scale;
    case 'pytorch_half_pixel': return outF === 1 ? -0.5 : (y + 0.5) / scale - 0.5;
    case 'half_pixel_symmetric': {
      const offset = (inW / 2) * (1 - outW / outF);
      return offset + (y + 0.5) / scale - 0.5;
    }
    case 'tf_crop_and_resize': {
      const [r0, r1] = roi ?? [0, 1];
      let x = outF === 1 ? ((r1 - r0) * (inW - 1)) / 2 : (y * (r1 - r0) * (inW - 1)) / (outF - 1);
      x += r0 * (inW - 1);
      return x < 0 || x > inW - 1 ? undefined : x;
    }
    default: return (y + 0.5) / scale - 0.5;
  }
}

function resizeAxis(src: Float64Array, dims: number[], axis: number, scale: number, outW: number, o: ResizeOptions, roi: [number, number] | undefined): Float64Array {
  const inW = dims[axis]!;
  const outer = elementCount(dims.slice(0, axis));
  const inner = elementCount(dims.slice(axis + 1));
  const out = new Float64Array(outer * outW * inner);
  for (let y = 0; y < outW; y++) {
    const x = sourceCoord(o, y, scale, inW, outW, roi);
    let idx: number[] = [];
    let w: number[] = [];
    if (x !== undefined) {
      const p = Math.floor(x);
      const frac = x - p;
      w = coefficients(o, frac === 0 ? 1 : frac, scale);
      const n = w.length;
      // Neighbours are the n positions nearest x, preferring the lower ones on ties.
      const start = p + (frac === 0 ? -(n >> 1) : -(n >> 1) + 1);
      idx = w.map((_, k) => start + k);
      if (o.excludeOutside) {
        w = w.map((c, k) => (idx[k]! < 0 || idx[k]! >= inW ? 0 : c));
        const sum = w.reduce((a, b) => a + b, 0);
        if (sum !== 0) w = w.map((c) => c / sum);
      }
      idx = idx.map((i) => Math.min(Math.max(i, 0), inW - 1));
    }
    for (let a = 0; a < outer; a++) {
      for (let b = 0; b < inner; b++) {
        let acc = 0;
        if (x === undefined) acc = o.extrapolation;
        else for (let k = 0; k < idx.length; k++) if (w[k] !== 0) acc += w[k]! * src[(a * inW + idx[k]!) * inner + b]!;
        out[(a * outW + y) * inner + b] = acc;
      }
    }
  }
  return out;
}

function resize(t: TensorData, o: ResizeOptions, axes: number[], scalesIn: number[] | undefined, sizesIn: number[] | undefined, roiIn: number[] | undefined): TensorData {
  const r = t.rank;
  const { scales, sizes } = plan(t.dims, axes, scalesIn, sizesIn, o.policy);
  let roi: number[] | undefined;
  if (roiIn && roiIn.length > 0) {
    if (roiIn.length !== 2 * axes.length) throw new OpError(`Resize roi [${roiIn.join(',')}] must have ${2 * axes.length} entries`);
    roi = [...new Array<number>(r).fill(0), ...new Array<number>(r).fill(1)];
    axes.forEach((a, i) => {
      roi![a] = roiIn[i]!;
      roi![a + r] = roiIn[i + axes.length]!;
    });
  }
  let vals = Float64Array.from(t.values);
  const dims = [...t.dims];
  for (const a of axes) {
    const axisRoi: [number, number] | undefined = roi ? [roi[a]!, roi[a + r]!] : undefined;
    const identity = Math.abs(scales[a]! - 1) <= 1e-9 && sizes[a] === dims[a] && (!axisRoi || (Math.abs(axisRoi[0]) <= 1e-9 && Math.abs(axisRoi[1] - 1) <= 1e-9));
    if (identity) continue;
    if (o.coord === 'tf_crop_and_resize' && !axisRoi) throw new OpError('Resize roi is required for tf_crop_and_resize');
    vals = resizeAxis(vals, dims, a, scales[a]!, sizes[a]!, o, axisRoi) as Float64Array<ArrayBuffer>;
    dims[a] = sizes[a]!;
  }
  return TensorData.fromValues(t.dtype, dims, vals);
}

/** Floats of a constant input (empty when given as an empty tensor), or undefined. */
function constFloats(ctx: InferContext, i: number): number[] | undefined {
  if (i >= ctx.inputCount || !ctx.optionalInput(i)) return undefined;
  return ctx.constant(i)?.toArray();
}

function inferResize(ctx: InferContext, scalesAt: number, sizesAt: number, axes: number[], policy: string): Dim[] {
  const x = ctx.input(0);
  const hasSizes = sizesAt < ctx.inputCount && !!ctx.optionalInput(sizesAt);
  const sizes = hasSizes ? numbersInput(ctx, sizesAt) : undefined;
  const scales = constFloats(ctx, scalesAt);
  const shape: Dim[] = [...x.shape];
  const freshAxes = () => {
    for (const a of axes) shape[a] = ctx.freshDim();
    return shape;
  };
  if (sizes && sizes.length > 0) {
    if (sizes.length !== axes.length) throw new OpError(`Resize sizes [${sizes.join(',')}] must have ${axes.length} entries`);
    if (policy !== 'stretch') {
      const dims = axes.map((a) => x.shape[a]!);
      if (!dims.every((d) => typeof d === 'number')) return freshAxes();
      const full = x.shape.map((d) => (typeof d === 'number' ? d : 1));
      const p = plan(full, axes, undefined, sizes, policy);
      for (const a of axes) shape[a] = p.sizes[a]!;
      return shape;
    }
    axes.forEach((a, i) => (shape[a] = sizes[i]!));
    return shape;
  }
  if (scales && scales.length > 0) {
    if (scales.length !== axes.length) throw new OpError(`Resize scales [${scales.join(',')}] must have ${axes.length} entries`);
    axes.forEach((a, i) => {
      const d = x.shape[a]!;
      const s = scales[i]!;
      if (!(s > 0)) throw new OpError(`Resize scales [${scales.join(',')}] must be positive`);
      shape[a] = typeof d === 'number' ? Math.floor(s * d) : s === 1 ? d : ctx.freshDim();
    });
    return shape;
  }
  if (hasSizes || (scalesAt < ctx.inputCount && ctx.optionalInput(scalesAt))) return freshAxes();
  throw new OpError('Resize needs a scales or sizes input');
}

/**
 * Resize-10 and Upsample: scales only, asymmetric coordinates; nearest rounds down when upsampling
 * and up when downsampling (as onnxruntime does), so axes of both kinds become two Resize nodes.
 */
function lowerScalesOnly(ctx: LowerContext, scales: LowerContext['inputs'][number]): void {
  const mode = ctx.attrs.string('mode', 'nearest');
  const attrs = ctx.attrs.with('mode', { kind: 'string', value: mode === 'bilinear' ? 'linear' : mode })
    .with('scales', undefined)
    .with('coordinate_transformation_mode', { kind: 'string', value: 'asymmetric' })
    .with('nearest_mode', { kind: 'string', value: 'floor' });
  const s = scales?.constant?.toArray();
  if (mode !== 'nearest' || !s || !s.some((v) => v < 1)) {
    ctx.setOutputs(ctx.emit('Resize', [ctx.inputs[0]!, null, scales], attrs, 1));
    return;
  }
  const part = (x: NonNullable<LowerContext['inputs'][number]>, down: boolean) => {
    const axes = s.flatMap((v, i) => ((down ? v < 1 : v > 1) ? [i] : []));
    if (axes.length === 0) return x;
    const sc = ctx.constant(TensorData.fromValues('f32', [axes.length], axes.map((a) => s[a]!)));
    const a = attrs.with('axes', { kind: 'ints', value: axes }).with('nearest_mode', { kind: 'string', value: down ? 'ceil' : 'floor' });
    return ctx.emit('Resize', [x, null, sc], a, 1)[0]!;
  };
  ctx.setOutputs([part(part(ctx.inputs[0]!, true), false)]);
}

defineOp({
  name: 'Resize',
  fusionClass: 'injective',
  inputs: [1, 4],
  outputs: [1, 1],
  onnxSince: 10,
  onnxLower(ctx) {
    if (ctx.opset < 11) lowerScalesOnly(ctx, ctx.inputs[1] ?? null);
    else ctx.setOutputs(ctx.emit('Resize', [...ctx.inputs], ctx.attrs, 1));
  },
  infer(ctx) {
    const x = ctx.input(0);
    const o = optionsOf(ctx.attrs);
    if (o.antialias && o.mode === 'nearest') throw new OpError('Resize antialias is not supported with mode nearest');
    const axes = axesOf(ctx.attrs, x.shape.length);
    return [{ dtype: x.dtype, shape: inferResize(ctx, 2, 3, axes, o.policy) }];
  },
  evaluate([x, roi, scales, sizes], attrs) {
    const t = need(x, 'Resize');
    const o = optionsOf(attrs);
    const sz = sizes && sizes.size > 0 ? sizes.toArray() : undefined;
    const sc = !sz && scales && scales.size > 0 ? scales.toArray() : undefined;
    return [resize(t, o, axesOf(attrs, t.rank), sc, sz, roi?.toArray())];
  },
});

defineOp({
  name: 'Upsample',
  fusionClass: 'injective',
  inputs: [1, 2],
  outputs: [1, 1],
  onnxSince: 7,
  onnxLower(ctx) {
    const scales = ctx.attrs.has('scales')
      ? ctx.constant(TensorData.fromValues('f32', [ctx.attrs.floats('scales').length], ctx.attrs.floats('scales')))
      : ctx.inputs[1] ?? null;
    lowerScalesOnly(ctx, scales);
  },
  infer(ctx) {
    const x = ctx.input(0);
    return [{ dtype: x.dtype, shape: inferResize(ctx, 1, 99, x.shape.map((_, i) => i), 'stretch') }];
  },
  evaluate([x, scales], attrs) {
    const t = need(x, 'Upsample');
    const mode = attrs.string('mode', 'nearest');
    const o = optionsOf(attrs.with('mode', { kind: 'string', value: mode === 'bilinear' ? 'linear' : mode })
      .with('coordinate_transformation_mode', { kind: 'string', value: 'asymmetric' })
      .with('nearest_mode', { kind: 'string', value: 'floor' }));
    return [resize(t, o, t.dims.map((_, i) => i), need(scales, 'Upsample').toArray(), undefined, undefined)];
  },
});

