// Indexing ops: gathers and scatters driven by index tensors, one-hot encoding, top-k selection and
// the ops whose output sizes depend on data (NonZero, Compress, Unique). Negative indices count
// from the end of their axis everywhere, as ONNX specifies.

import { defineOp, type InferContext } from '../ir/ops.js';
import type { Dim, TensorType } from '../ir/types.js';
import { OpError, TensorData, elementCount, normalizeAxis, stridesOf } from './common.js';
import { dimsInput, forEachIndex, gatherBy, need, numbersInput, productDim, requireIndexType } from './movement-util.js';

function checkIndex(i: number, dim: number, what: string): number {
  const j = i < 0 ? i + dim : i;
  if (j < 0 || j >= dim || !Number.isInteger(j)) throw new OpError(`${what} index ${i} is out of range for size ${dim}`);
  return j;
}

// ---- Gather ----

defineOp({
  name: 'Gather',
  fusionClass: 'injective',
  inputs: [2, 2],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const ind = ctx.input(1);
    requireIndexType(ind, 'Gather indices');
    const axis = normalizeAxis(ctx.attrs.int('axis', 0), x.shape.length, 'Gather axis');
    const shape = [...x.shape.slice(0, axis), ...ind.shape, ...x.shape.slice(axis + 1)];
    let sv: Dim[] | undefined;
    const xsv = ctx.shapeValue(0);
    const idx = numbersInput(ctx, 1);
    if (xsv && x.shape.length === 1 && idx && ind.shape.length <= 1) {
      sv = idx.map((i) => xsv[checkIndex(i, xsv.length, 'Gather')]!);
    }
    return { types: [{ dtype: x.dtype, shape }], shapeValues: [sv] };
  },
  evaluate([x, i], attrs) {
    const t = need(x, 'Gather');
    const ind = need(i, 'Gather');
    const axis = normalizeAxis(attrs.int('axis', 0), t.rank, 'Gather axis');
    const iv = ind.values;
    const dims = [...t.dims.slice(0, axis), ...ind.dims, ...t.dims.slice(axis + 1)];
    const st = stridesOf(t.dims);
    const ir = ind.rank;
    const ist = stridesOf(ind.dims);
    return [gatherBy(t, dims, (idx) => {
      let f = 0;
      for (let k = 0; k < axis; k++) f += idx[k]! * st[k]!;
      let flat = 0;
      for (let k = 0; k < ir; k++) flat += idx[axis + k]! * ist[k]!;
      f += checkIndex(iv[flat]!, t.dims[axis]!, 'Gather') * st[axis]!;
      for (let k = axis + 1; k < t.rank; k++) f += idx[k + ir - 1]! * st[k]!;
      return f;
    })];
  },
});

// ---- GatherElements ----

defineOp({
  name: 'GatherElements',
  fusionClass: 'injective',
  inputs: [2, 2],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const ind = ctx.input(1);
    requireIndexType(ind, 'GatherElements indices');
    normalizeAxis(ctx.attrs.int('axis', 0), x.shape.length, 'GatherElements axis');
    if (ind.shape.length !== x.shape.length) throw new OpError(`GatherElements indices rank ${ind.shape.length} differs from data rank ${x.shape.length}`);
    return [{ dtype: x.dtype, shape: [...ind.shape] }];
  },
  evaluate([x, i], attrs) {
    const t = need(x, 'GatherElements');
    const ind = need(i, 'GatherElements');
    const axis = normalizeAxis(attrs.int('axis', 0), t.rank, 'GatherElements axis');
    const st = stridesOf(t.dims);
    const iv = ind.values;
    let flat = 0;
    return [gatherBy(t, ind.dims, (idx) => {
      const j = checkIndex(iv[flat++]!, t.dims[axis]!, 'GatherElements');
      return idx.reduce((a, v, k) => a + (k === axis ? j : v) * st[k]!, 0);
    })];
  },
});

// ---- GatherND / ScatterND ----

function gatherNDShape(data: readonly Dim[], ind: readonly Dim[], b: number): Dim[] {
  const m = ind[ind.length - 1];
  if (ind.length < 1) throw new OpError('GatherND indices must have rank >= 1');
  if (typeof m !== 'number') throw new OpError(`GatherND indices need a static last dim, got [${ind.join(',')}]`);
  if (b < 0 || b >= Math.min(data.length, ind.length)) throw new OpError(`GatherND batch_dims ${b} is out of range`);
  if (b + m > data.length) throw new OpError(`GatherND index tuples of length ${m} exceed data rank ${data.length} (batch_dims ${b})`);
  return [...ind.slice(0, -1), ...data.slice(b + m)];
}

defineOp({
  name: 'GatherND',
  fusionClass: 'injective',
  inputs: [2, 2],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const ind = ctx.input(1);
    requireIndexType(ind, 'GatherND indices');
    return [{ dtype: x.dtype, shape: gatherNDShape(x.shape, ind.shape, ctx.attrs.int('batch_dims', 0)) }];
  },
  evaluate([x, i], attrs) {
    const t = need(x, 'GatherND');
    const ind = need(i, 'GatherND');
    const b = attrs.int('batch_dims', 0);
    const dims = gatherNDShape(t.dims, ind.dims, b) as number[];
    const m = ind.dims[ind.rank - 1]!;
    const st = stridesOf(t.dims);
    const iv = ind.values;
    const ist = stridesOf(ind.dims);
    const q = ind.rank - 1;
    return [gatherBy(t, dims, (idx) => {
      let f = 0;
      for (let k = 0; k < b; k++) f += idx[k]! * st[k]!;
      let base = 0;
      for (let k = 0; k < q; k++) base += idx[k]! * ist[k]!;
      for (let k = 0; k < m; k++) f += checkIndex(iv[base + k]!, t.dims[b + k]!, 'GatherND') * st[b + k]!;
      for (let k = b + m; k < t.rank; k++) f += idx[q + k - b - m]! * st[k]!;
      return f;
    })];
  },
});

const REDUCTIONS: Record<string, (a: number, b: number) => number> = {
  none: (_a, b) => b,
  add: (a, b) => a + b,
  mul: (a, b) => a * b,
  max: (a, b) => Math.max(a, b),
  min: (a, b) => Math.min(a, b),
};

function reductionOf(ctx: { attrs: { string(n: string, f?: string): string } }, op: string): (a: number, b: number) => number {
  const r = ctx.attrs.string('reduction', 'none');
  const f = REDUCTIONS[r];
  if (!f) throw new OpError(`${op} reduction '${r}' is not one of ${Object.keys(REDUCTIONS).join(', ')}`);
  return f;
}

function scatterTypes(ctx: InferContext, op: string): TensorType[] {
  const x = ctx.input(0);
  const ind = ctx.input(1);
  const upd = ctx.input(2);
  requireIndexType(ind, `${op} indices`);
  reductionOf(ctx, op);
  if (upd.dtype !== x.dtype) throw new OpError(`${op} updates have dtype ${upd.dtype}, data has ${x.dtype}`);
  return [{ dtype: x.dtype, shape: [...x.shape] }];
}

defineOp({
  name: 'ScatterND',
  fusionClass: 'opaque',
  inputs: [3, 3],
  outputs: [1, 1],
  infer(ctx) {
    const types = scatterTypes(ctx, 'ScatterND');
    const ind = ctx.input(1).shape;
    const m = ind[ind.length - 1];
    if (typeof m === 'number' && m > ctx.input(0).shape.length) throw new OpError(`ScatterND index tuples of length ${m} exceed data rank ${ctx.input(0).shape.length}`);
    return types;
  },
  evaluate([x, i, u], attrs) {
    const t = need(x, 'ScatterND');
    const ind = need(i, 'ScatterND');
    const upd = need(u, 'ScatterND');
    const f = reductionOf({ attrs }, 'ScatterND');
    const out = Float64Array.from(t.values);
    const m = ind.dims[ind.rank - 1]!;
    const st = stridesOf(t.dims);
    const slice = elementCount(t.dims.slice(m));
    const tuples = ind.size / m;
    const iv = ind.values;
    const uv = upd.values;
    for (let n = 0; n < tuples; n++) {
      let base = 0;
      for (let k = 0; k < m; k++) base += checkIndex(iv[n * m + k]!, t.dims[k]!, 'ScatterND') * st[k]!;
      for (let e = 0; e < slice; e++) out[base + e] = f(out[base + e]!, uv[n * slice + e]!);
    }
    return [TensorData.fromValues(t.dtype, t.dims, out)];
  },
});

// ---- ScatterElements (and the deprecated Scatter) ----

const scatterElements = {
  fusionClass: 'opaque' as const,
  inputs: [3, 3] as const,
  outputs: [1, 1] as const,
  infer(ctx: InferContext) {
    const types = scatterTypes(ctx, 'ScatterElements');
    normalizeAxis(ctx.attrs.int('axis', 0), ctx.input(0).shape.length, 'ScatterElements axis');
    return types;
  },
  evaluate([x, i, u]: readonly (TensorData | undefined)[], attrs: import('../ir/graph.js').Attrs) {
    const t = need(x, 'ScatterElements');
    const ind = need(i, 'ScatterElements');
    const upd = need(u, 'ScatterElements');
    const f = reductionOf({ attrs }, 'ScatterElements');
    const axis = normalizeAxis(attrs.int('axis', 0), t.rank, 'ScatterElements axis');
    const out = Float64Array.from(t.values);
    const st = stridesOf(t.dims);
    const iv = ind.values;
    const uv = upd.values;
    forEachIndex(ind.dims, (idx, flat) => {
      const j = checkIndex(iv[flat]!, t.dims[axis]!, 'ScatterElements');
      const o = idx.reduce((a, v, k) => a + (k === axis ? j : v) * st[k]!, 0);
      out[o] = f(out[o]!, uv[flat]!);
    });
    return [TensorData.fromValues(t.dtype, t.dims, out)];
  },
};

defineOp({ name: 'ScatterElements', ...scatterElements });
defineOp({
  name: 'Scatter',
  ...scatterElements,
  onnxLower(ctx) {
    ctx.setOutputs(ctx.emit('ScatterElements', [...ctx.inputs], ctx.attrs, 1));
  },
});

// ---- OneHot ----

defineOp({
  name: 'OneHot',
  fusionClass: 'injective',
  inputs: [3, 3],
  outputs: [1, 1],
  infer(ctx) {
    const ind = ctx.input(0);
    const vals = ctx.input(2);
    const r = ind.shape.length + 1;
    const axis = normalizeAxis(ctx.attrs.int('axis', -1), r, 'OneHot axis');
    const d = dimsInput(ctx, 1);
    if (d && d.length !== 1) throw new OpError(`OneHot depth must have one element, got ${d.length}`);
    const depth: Dim = d ? (typeof d[0] === 'number' ? Math.trunc(d[0]) : d[0]!) : ctx.freshDim();
    if (typeof depth === 'number' && depth < 1) throw new OpError(`OneHot depth ${depth} must be positive`);
    const shape = [...ind.shape];
    shape.splice(axis, 0, depth);
    return [{ dtype: vals.dtype, shape }];
  },
  evaluate([i, d, v], attrs) {
    const ind = need(i, 'OneHot');
    const depth = Math.trunc(need(d, 'OneHot').values[0]!);
    const vals = need(v, 'OneHot').values;
    const axis = normalizeAxis(attrs.int('axis', -1), ind.rank + 1, 'OneHot axis');
    const dims = [...ind.dims];
    dims.splice(axis, 0, depth);
    const iv = ind.values;
    const ist = stridesOf(ind.dims);
    const out = new Float64Array(elementCount(dims));
    forEachIndex(dims, (idx, flat) => {
      let f = 0;
      for (let k = 0, j = 0; k < idx.length; k++) if (k !== axis) f += idx[k]! * ist[j++]!;
      let x = Math.trunc(iv[f]!);
      if (x < 0) x += depth;
      out[flat] = x === idx[axis] ? vals[1]! : vals[0]!;
    });
    return [TensorData.fromValues(need(v, 'OneHot').dtype, dims, out)];
  },
});

// ---- NonZero / Compress ----

defineOp({
  name: 'NonZero',
  fusionClass: 'opaque',
  inputs: [1, 1],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const c = ctx.constant(0);
    const count = c ? c.values.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0) : ctx.freshDim('nz');
    return [{ dtype: 'i64', shape: [x.shape.length, count] }];
  },
  evaluate([x]) {
    const t = need(x, 'NonZero');
    const hits: number[][] = [];
    const v = t.values;
    forEachIndex(t.dims, (idx, flat) => {
      if (v[flat] !== 0) hits.push([...idx]);
    });
    const out = new Float64Array(t.rank * hits.length);
    for (let k = 0; k < t.rank; k++) for (let n = 0; n < hits.length; n++) out[k * hits.length + n] = hits[n]![k]!;
    return [TensorData.fromValues('i64', [t.rank, hits.length], out)];
  },
});

defineOp({
  name: 'Compress',
  fusionClass: 'opaque',
  inputs: [2, 2],
  outputs: [1, 1],
  infer(ctx) {
    const x = ctx.input(0);
    const cond = ctx.input(1);
    if (cond.shape.length !== 1) throw new OpError(`Compress condition must be 1-D, got [${cond.shape.join(',')}]`);
    const c = ctx.constant(1);
    const count = c ? c.values.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0) : ctx.freshDim();
    if (!ctx.attrs.has('axis')) return [{ dtype: x.dtype, shape: [count] }];
    const axis = normalizeAxis(ctx.attrs.int('axis'), x.shape.length, 'Compress axis');
    return [{ dtype: x.dtype, shape: x.shape.map((d, k) => (k === axis ? count : d)) }];
  },
  evaluate([x, c], attrs) {
    const t = need(x, 'Compress');
    const cond = need(c, 'Compress').values;
    const hasAxis = attrs.has('axis');
    const src = hasAxis ? t : t.withDims([t.size]);
    const axis = hasAxis ? normalizeAxis(attrs.int('axis'), t.rank, 'Compress axis') : 0;
    const keep: number[] = [];
    for (let i = 0; i < Math.min(cond.length, src.dims[axis]!); i++) if (cond[i]) keep.push(i);
    const dims = src.dims.map((d, k) => (k === axis ? keep.length : d));
    const st = stridesOf(src.dims);
    return [gatherBy(src, dims, (idx) => idx.reduce((a, v, k) => a + (k === axis ? keep[v]! : v) * st[k]!, 0))];
  },
});

// ---- Unique ----

defineOp({
  name: 'Unique',
  fusionClass: 'opaque',
  inputs: [1, 1],
  outputs: [1, 4],
  infer(ctx) {
    const x = ctx.input(0);
    const u = ctx.freshDim('u');
    if (!ctx.attrs.has('axis')) {
      return [{ dtype: x.dtype, shape: [u] }, { dtype: 'i64', shape: [u] }, { dtype: 'i64', shape: [productDim(x.shape, ctx)] }, { dtype: 'i64', shape: [u] }];
    }
    const axis = normalizeAxis(ctx.attrs.int('axis'), x.shape.length, 'Unique axis');
    return [
      { dtype: x.dtype, shape: x.shape.map((d, k) => (k === axis ? u : d)) },
      { dtype: 'i64', shape: [u] },
      { dtype: 'i64', shape: [x.shape[axis]!] },
      { dtype: 'i64', shape: [u] },
    ];
  },
  evaluate([x], attrs) {
    const t0 = need(x, 'Unique');
    const hasAxis = attrs.has('axis');
    const t = hasAxis ? t0 : t0.withDims([t0.size]);
    const axis = hasAxis ? normalizeAxis(attrs.int('axis'), t.rank, 'Unique axis') : 0;
    const n = t.dims[axis]!;
    const outer = elementCount(t.dims.slice(0, axis));
    const inner = elementCount(t.dims.slice(axis + 1));
    const v = t.values;
    // Slice k along the axis, as a list of numbers compared lexicographically.
    const slices = Array.from({ length: n }, (_, k) => {
      const s: number[] = [];
      for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) s.push(v[(o * n + k) * inner + i]!);
      return s;
    });
    const key = (s: number[]) => s.join(',');
    const first = new Map<string, number>();
    const counts = new Map<string, number>();
    slices.forEach((s, k) => {
      const kk = key(s);
      if (!first.has(kk)) first.set(kk, k);
      counts.set(kk, (counts.get(kk) ?? 0) + 1);
    });
    const order = [...first.values()];
    if (attrs.int('sorted', 1) !== 0) {
      order.sort((a, b) => {
        const sa = slices[a]!;
        const sb = slices[b]!;
        for (let i = 0; i < sa.length; i++) if (sa[i] !== sb[i]) return sa[i]! - sb[i]!;
        return 0;
      });
    }
    const pos = new Map(order.map((k, j) => [key(slices[k]!), j]));
    const u = order.length;
    const dims = t.dims.map((d, k) => (k === axis ? u : d));
    const st = stridesOf(t.dims);
    const y = gatherBy(t, dims, (idx) => idx.reduce((a, vv, k) => a + (k === axis ? order[vv]! : vv) * st[k]!, 0));
    return [
      y,
      TensorData.fromValues('i64', [u], order),
      TensorData.fromValues('i64', [n], slices.map((s) => pos.get(key(s))!)),
      TensorData.fromValues('i64', [u], order.map((k) => counts.get(key(slices[k]!))!)),
    ];
  },
});

// ---- TopK ----

function lowerTopK(ctx: import('../ir/ops.js').LowerContext): void {
  if (ctx.opset >= 10) {
    ctx.setOutputs(ctx.emit('TopK', [...ctx.inputs], ctx.attrs, 2));
    return;
  }
  const k = ctx.constant(TensorData.fromValues('i64', [1], [ctx.attrs.int('k')]));
  ctx.setOutputs(ctx.emit('TopK', [ctx.inputs[0]!, k], ctx.attrs.with('k', undefined), 2));
}

defineOp({
  name: 'TopK',
  fusionClass: 'reduction',
  inputs: [2, 2],
  outputs: [1, 2],
  onnxLower: lowerTopK,
  infer(ctx) {
    const x = ctx.input(0);
    const axis = normalizeAxis(ctx.attrs.int('axis', -1), x.shape.length, 'TopK axis');
    const k = numbersInput(ctx, 1);
    if (k && k.length !== 1) throw new OpError(`TopK K must have one element, got ${k.length}`);
    const d = x.shape[axis]!;
    if (k && (k[0]! < 0 || (typeof d === 'number' && k[0]! > d))) throw new OpError(`TopK K ${k[0]} is out of range for axis size ${d}`);
    const kd: Dim = k ? k[0]! : ctx.freshDim();
    const shape = x.shape.map((s, i) => (i === axis ? kd : s));
    return [{ dtype: x.dtype, shape }, { dtype: 'i64', shape }];
  },
  evaluate([x, kt], attrs) {
    const t = need(x, 'TopK');
    const k = need(kt, 'TopK').values[0]!;
    const axis = normalizeAxis(attrs.int('axis', -1), t.rank, 'TopK axis');
    const largest = attrs.int('largest', 1) !== 0;
    const n = t.dims[axis]!;
    const outer = elementCount(t.dims.slice(0, axis));
    const inner = elementCount(t.dims.slice(axis + 1));
    const dims = t.dims.map((d, i) => (i === axis ? k : d));
    const vals = new Float64Array(elementCount(dims));
    const idxs = new Float64Array(vals.length);
    const v = t.values;
    const order = Array.from({ length: n }, (_, i) => i);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const at = (j: number) => v[(o * n + j) * inner + i]!;
        // Ties keep the lower index first.
        order.sort((a, b) => (at(a) === at(b) ? a - b : largest ? at(b) - at(a) : at(a) - at(b)));
        for (let j = 0; j < k; j++) {
          const p = (o * k + j) * inner + i;
          vals[p] = at(order[j]!);
          idxs[p] = order[j]!;
        }
        order.sort((a, b) => a - b);
      }
    }
    return [TensorData.fromValues(t.dtype, dims, vals), TensorData.fromValues('i64', dims, idxs)];
  },
});
