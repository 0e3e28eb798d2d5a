// Ops that generate tensors from shapes and scalars (Shape, Size, ConstantOfShape, Range, EyeLike).
// Shape and Size report their input's dims as shape values, symbols included, so that shapes
// computed at run time by exported graphs can be followed at compile time.

import { dtypeFromOnnx, isDType, type DType } from '../ir/dtype.js';
import type { Attrs } from '../ir/graph.js';
import { defineOp } from '../ir/ops.js';
import type { Dim } from '../ir/types.js';
import { OpError, TensorData, elementCount } from './common.js';
import { dimsInput, lengthOf, need, productDim, requireIndexType } from './movement-util.js';

// ---- Shape / Size ----

/** The [start, end) range of dims Shape reports, clamped per the spec. */
function shapeRange(attrs: Attrs, rank: number): [number, number] {
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const start = clamp(attrs.int('start', 0));
  const end = attrs.has('end') ? clamp(attrs.int('end')) : rank;
  return [start, Math.max(start, end)];
}

defineOp({
  name: 'Shape',
  fusionClass: 'opaque',
  inputs: [1, 1],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const [s, e] = shapeRange(ctx.attrs, x.shape.length);
    return { types: [{ dtype: 'i64', shape: [e - s] }], shapeValues: [x.shape.slice(s, e)] };
  },
  evaluate([x], attrs) {
    const t = need(x, 'Shape');
    const [s, e] = shapeRange(attrs, t.rank);
    return [TensorData.fromValues('i64', [e - s], t.dims.slice(s, e))];
  },
});

defineOp({
  name: 'Size',
  fusionClass: 'opaque',
  inputs: [1, 1],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const known = x.shape.every((d) => typeof d === 'number') || x.shape.filter((d) => typeof d === 'string').length === 1;
    return { types: [{ dtype: 'i64', shape: [] }], shapeValues: [known ? [productDim(x.shape, ctx)] : undefined] };
  },
  evaluate([x]) {
    return [TensorData.scalar('i64', need(x, 'Size').size)];
  },
});

// ---- ConstantOfShape ----

function fillValue(attrs: Attrs): TensorData {
  const v = attrs.tensor('value');
  if (!v) return TensorData.scalar('f32', 0);
  if (v.size !== 1) throw new OpError(`ConstantOfShape value must have one element, got ${v.size}`);
  return v;
}

defineOp({
  name: 'ConstantOfShape',
  fusionClass: 'injective',
  inputs: [1, 1],
  outputs: [1, 1],
  infer(ctx) {
    const st = ctx.input(0);
    requireIndexType(st, 'ConstantOfShape input');
    const v = fillValue(ctx.attrs);
    const shape = dimsInput(ctx, 0);
    if (shape) {
      const bad = shape.find((d) => typeof d === 'number' && (d < 0 || !Number.isInteger(d)));
      if (bad !== undefined) throw new OpError(`ConstantOfShape shape [${shape.join(',')}] has invalid dim ${bad}`);
      let sv: Dim[] | undefined;
      const n = shape.length === 0 ? 1 : shape[0];
      if (shape.length <= 1 && typeof n === 'number' && n <= 64 && v.dtype !== 'f32' && v.dtype !== 'f64') sv = new Array<Dim>(n).fill(v.values[0]!);
      return { types: [{ dtype: v.dtype, shape }], shapeValues: [sv] };
    }
    const n = lengthOf(st, 'ConstantOfShape input');
    if (n === undefined) throw new OpError('ConstantOfShape input must be a compile-time constant or have a static length');
    return [{ dtype: v.dtype, shape: Array.from({ length: n }, () => ctx.freshDim()) }];
  },
  evaluate([s], attrs) {
    const dims = need(s, 'ConstantOfShape').toArray();
    const v = fillValue(attrs);
    return [TensorData.fromValues(v.dtype, dims, new Float64Array(elementCount(dims)).fill(v.values[0]!))];
  },
});

// ---- Range ----

function rangeCount(start: number, limit: number, delta: number): number {
  if (delta === 0) throw new OpError('Range delta must not be 0');
  return Math.max(Math.ceil((limit - start) / delta), 0);
}

defineOp({
  name: 'Range',
  fusionClass: 'injective',
  inputs: [3, 3],
  outputs: [1, 1],
  infer(ctx) {
    const types = [0, 1, 2].map((i) => ctx.input(i));
    const dtype = types[0]!.dtype;
    types.forEach((t, i) => {
      if (t.shape.length !== 0 && !(t.shape.length === 1 && t.shape[0] === 1)) throw new OpError(`Range input ${i} must be a scalar, got [${t.shape.join(',')}]`);
      if (t.dtype !== dtype) throw new OpError(`Range input ${i} has dtype ${t.dtype}, input 0 has ${dtype}`);
    });
    const vals = [0, 1, 2].map((i) => dimsInput(ctx, i)?.[0]);
    const [start, limit, delta] = vals;
    if (typeof start === 'number' && typeof limit === 'number' && typeof delta === 'number') {
      const n = rangeCount(start, limit, delta);
      const isInt = dtype !== 'f32' && dtype !== 'f64' && dtype !== 'f16' && dtype !== 'bf16';
      const sv = isInt && n <= 64 ? Array.from({ length: n }, (_, i) => start + i * delta) : undefined;
      return { types: [{ dtype, shape: [n] }], shapeValues: [sv] };
    }
    // arange(n) over a symbolic n keeps the symbol.
    if (start === 0 && delta === 1 && typeof limit === 'string') return { types: [{ dtype, shape: [limit] }], shapeValues: [undefined] };
    return [{ dtype, shape: [ctx.freshDim()] }];
  },
  evaluate([a, b, c]) {
    const s = need(a, 'Range');
    const start = s.values[0]!;
    const limit = need(b, 'Range').values[0]!;
    const delta = need(c, 'Range').values[0]!;
    const n = rangeCount(start, limit, delta);
    return [TensorData.fromValues(s.dtype, [n], Array.from({ length: n }, (_, i) => start + i * delta))];
  },
});

// ---- EyeLike ----

function eyeDtype(attrs: Attrs, input: DType): DType {
  if (!attrs.has('dtype')) return input;
  const code = attrs.int('dtype');
  const d = dtypeFromOnnx(code);
  if (!d || !isDType(d)) throw new OpError(`EyeLike dtype ${code} is not a supported data type`);
  return d;
}

defineOp({
  name: 'EyeLike',
  fusionClass: 'injective',
  inputs: [1, 1],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    if (x.shape.length !== 2) throw new OpError(`EyeLike input must have rank 2, got [${x.shape.join(',')}]`);
    return [{ dtype: eyeDtype(ctx.attrs, x.dtype), shape: [...x.shape] }];
  },
  evaluate([x], attrs) {
    const t = need(x, 'EyeLike');
    const [r, c] = t.dims as number[];
    const k = attrs.int('k', 0);
    const out = new Float64Array(r! * c!);
    for (let i = 0; i < r!; i++) {
      const j = i + k;
      if (j >= 0 && j < c!) out[i * c! + j] = 1;
    }
    return [TensorData.fromValues(eyeDtype(attrs, t.dtype), [r!, c!], out)];
  },
});
