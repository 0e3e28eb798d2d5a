// Data movement: every output element copies one input element (or a fill value), one thread per
// output element. Reshape-like ops are byte copies (the runtime gives each value its own buffer);
// Transpose, Slice, Expand and Tile are strided reads with baked strides; Gather, GatherElements and
// GatherND read their indices at run time (negative ones count from the end, out-of-range ones are
// clamped so that no read leaves the tensor); Concat and Split pick the input or output by the
// coordinate on their axis; Pad computes each axis's source coordinate by its mode.
// Shape-like inputs (Slice starts/ends/axes/steps, Pad pads/axes) must be compile-time constants.

import type { CudaLaunch, ValueSlot } from '../../artifact/format.js';
import { VIEW_OPS } from '../../ir/kernels.js';
import type { KernelContext } from './context.js';
import { attrInt, attrString } from './plan-attrs.js';
import {
  broadcastOffset, coordinate, gridStride, gridStrideLoop, indent, indexType, intLit, KernelParams, numel, stridedOffset, stridesOf,
} from './source.js';

/** The view ops (VIEW_OPS) that stay kernels: byte copies. */
export const COPY_OPS = VIEW_OPS;
export const INJECTIVE_OPS: ReadonlySet<string> = new Set([
  ...COPY_OPS, 'Transpose', 'Gather', 'GatherElements', 'GatherND', 'Slice', 'Concat', 'Split', 'Expand', 'Tile', 'Pad',
]);

export function generateInjective(ctx: KernelContext): CudaLaunch[] {
  const op = ctx.kernel.op;
  if (ctx.prologue.length || ctx.epilogue.length) throw ctx.refuse('with fused steps');
  for (const id of [...ctx.kernel.inputs, ...ctx.kernel.outputs]) if (id >= 0) ctx.checkDtype(ctx.slot(id).dtype);
  if (COPY_OPS.has(op)) return copyKernels(ctx);
  switch (op) {
    case 'Transpose': return [transpose(ctx)];
    case 'Gather': return [gather(ctx)];
    case 'GatherElements': return [gatherElements(ctx)];
    case 'GatherND': return [gatherND(ctx)];
    case 'Slice': return [slice(ctx)];
    case 'Concat': return [concat(ctx)];
    case 'Split': return [split(ctx)];
    case 'Expand': return [strided(ctx, (x, out) => broadcastOffset(x.shape, out.shape, 'i'))];
    case 'Tile': return [tile(ctx)];
    case 'Pad': return [pad(ctx)];
    default: throw ctx.refuse();
  }
}

/** A grid-stride kernel over `n` items with `body` (which reads `i`). */
function loopKernel(ctx: KernelContext, params: KernelParams, n: number, body: string[], entry = ctx.entry()): CudaLaunch {
  const lines = [`${gridStrideLoop('i', n)} {`, ...indent(body, 2), '}'];
  const name = ctx.module.addKernel(entry, params.declaration, indent(lines, 2).join('\n') + '\n');
  return { entry: name, ...gridStride(n), args: params.slots };
}

/** Reshape and friends: a copy of the bytes, 16, 4 or 1 at a time. Dropout's mask is all true. */
function copyKernels(ctx: KernelContext): CudaLaunch[] {
  const x = ctx.requireInput(0);
  const out = ctx.output();
  if (x.byteLength !== out.byteLength) throw new Error(`cuda: ${ctx.kernel.op} kernel ${ctx.kernel.id} copies ${x.byteLength} bytes into ${out.byteLength}`);
  // Empty tensors still get a (no-op) launch: the runtime wants every kernel to run something.
  const launches: CudaLaunch[] = [];
  const bytes = x.byteLength;
  const [unit, type] = bytes % 16 === 0 ? [16, 'uint4'] : bytes % 4 === 0 ? [4, 'mcpc_u32'] : [1, 'mcpc_u8'];
  const params = new KernelParams();
  const src = params.read(x.id, x.dtype, type);
  const dst = params.write(out.id, out.dtype, type);
  launches.push(loopKernel(ctx, params, bytes / unit, [`${dst}[i] = ${src}[i];`], `k${ctx.kernel.id}_copy`));
  for (let o = 1; o < ctx.kernel.outputs.length; o++) {
    const mask = ctx.output(o);
    if (ctx.kernel.op !== 'Dropout' || mask.dtype !== 'bool') throw ctx.refuse(`with output ${o}`);
    const fill = new KernelParams();
    const m = fill.write(mask.id, mask.dtype);
    launches.push(loopKernel(ctx, fill, numel(mask.shape), [`${m}[i] = 1;`], `k${ctx.kernel.id}_fill`));
  }
  return launches;
}

/** out[i] = x[offset(i)] for an offset expression of the output index. */
function strided(ctx: KernelContext, offset: (x: ValueSlot, out: ValueSlot) => string): CudaLaunch {
  const x = ctx.requireInput(0);
  const out = ctx.output();
  const params = new KernelParams();
  const src = params.read(x.id, x.dtype);
  const dst = params.write(out.id, out.dtype);
  return loopKernel(ctx, params, numel(out.shape), [`${dst}[i] = ${src}[${offset(x, out)}];`]);
}

function transpose(ctx: KernelContext): CudaLaunch {
  const x = ctx.requireInput(0);
  const rank = x.shape.length;
  const perm = ctx.kernel.attrs.perm && 'ints' in ctx.kernel.attrs.perm ? ctx.kernel.attrs.perm.ints : Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const st = stridesOf(x.shape);
  return strided(ctx, (_, out) => stridedOffset(out.shape, perm.map((p) => st[p]!), 'i'));
}

function tile(ctx: KernelContext): CudaLaunch {
  return strided(ctx, (x, out) => {
    const st = stridesOf(x.shape);
    const terms: string[] = [];
    x.shape.forEach((d, k) => {
      if (d === 1) return;
      const c = coordinate(out.shape, k, 'i');
      const wrapped = out.shape[k] === d ? c : `(${c}) % ${intLit(d)}`;
      terms.push(st[k] === 1 ? wrapped : `(${wrapped}) * ${intLit(st[k]!)}`);
    });
    return terms.length ? terms.join(' + ') : '0';
  });
}

/** Lines normalizing index variable `j` (read from an index tensor) into [0, size). */
function normalizeIndex(j: string, size: number): string[] {
  return [`if (${j} < 0) ${j} += ${intLit(size)};`, `${j} = ${j} < 0 ? 0 : (${j} >= ${intLit(size)} ? ${intLit(size - 1)} : ${j});`];
}

function requireIndices(ctx: KernelContext, s: ValueSlot): void {
  if (s.dtype !== 'i64' && s.dtype !== 'i32') throw ctx.refuse(`with ${s.dtype} indices`);
}

function gather(ctx: KernelContext): CudaLaunch {
  const x = ctx.requireInput(0);
  const ind = ctx.requireInput(1);
  requireIndices(ctx, ind);
  const out = ctx.output();
  const rank = x.shape.length;
  const raw = attrInt(ctx.kernel.attrs, 'axis', 0);
  const axis = raw < 0 ? raw + rank : raw;
  const A = x.shape[axis]!;
  const inner = numel(x.shape.slice(axis + 1));
  const nIdx = numel(ind.shape);
  const n = numel(out.shape);
  const it = indexType(n);
  const params = new KernelParams();
  const src = params.read(x.id, x.dtype);
  const idx = params.read(ind.id, ind.dtype);
  const dst = params.write(out.id, out.dtype);
  const body: string[] = [];
  const o = nIdx * inner === 1 ? 'i' : `i / ${intLit(nIdx * inner)}`;
  const t = inner === 1 ? (nIdx === 1 ? '0' : `i % ${intLit(nIdx)}`) : `(i / ${intLit(inner)}) % ${intLit(nIdx)}`;
  body.push(`mcpc_i64 j = (mcpc_i64)${idx}[${nIdx === 1 ? '0' : t}];`, ...normalizeIndex('j', A));
  const r = inner === 1 ? '' : ` * ${intLit(inner)} + i % ${intLit(inner)}`;
  const base = numel(x.shape.slice(0, axis)) === 1 ? 'j' : `(${it})(${o}) * ${intLit(A)} + j`;
  body.push(`${dst}[i] = ${src}[(${base})${r}];`);
  return loopKernel(ctx, params, n, body);
}

function gatherElements(ctx: KernelContext): CudaLaunch {
  const x = ctx.requireInput(0);
  const ind = ctx.requireInput(1);
  requireIndices(ctx, ind);
  const out = ctx.output();
  const rank = x.shape.length;
  const raw = attrInt(ctx.kernel.attrs, 'axis', 0);
  const axis = raw < 0 ? raw + rank : raw;
  const st = stridesOf(x.shape);
  const params = new KernelParams();
  const src = params.read(x.id, x.dtype);
  const idx = params.read(ind.id, ind.dtype);
  const dst = params.write(out.id, out.dtype);
  const rest = stridedOffset(ind.shape, st.map((s, k) => (k === axis ? 0 : s)), 'i');
  const body = [`mcpc_i64 j = (mcpc_i64)${idx}[i];`, ...normalizeIndex('j', x.shape[axis]!), `${dst}[i] = ${src}[${rest} + j * ${intLit(st[axis]!)}];`];
  return loopKernel(ctx, params, numel(out.shape), body);
}

function gatherND(ctx: KernelContext): CudaLaunch {
  const x = ctx.requireInput(0);
  const ind = ctx.requireInput(1);
  requireIndices(ctx, ind);
  const out = ctx.output();
  const b = attrInt(ctx.kernel.attrs, 'batch_dims', 0);
  const q = ind.shape.length - 1;
  const m = ind.shape[q]!;
  const st = stridesOf(x.shape);
  const innerSize = numel(x.shape.slice(b + m));
  const perBatch = numel(ind.shape.slice(b, q));
  const params = new KernelParams();
  const src = params.read(x.id, x.dtype);
  const idx = params.read(ind.id, ind.dtype);
  const dst = params.write(out.id, out.dtype);
  const body = [
    `const mcpc_i64 t = ${innerSize === 1 ? 'i' : `i / ${intLit(innerSize)}`};`,
    `mcpc_i64 off = ${b > 0 ? `(t / ${intLit(perBatch)}) * ${intLit(numel(x.shape.slice(b)))}` : '0'}${innerSize === 1 ? '' : ` + i % ${intLit(innerSize)}`};`,
  ];
  for (let k = 0; k < m; k++) {
    body.push('{', `  mcpc_i64 j = (mcpc_i64)${idx}[t * ${m} + ${k}];`, ...indent(normalizeIndex('j', x.shape[b + k]!), 2), `  off += j * ${intLit(st[b + k]!)};`, '}');
  }
  body.push(`${dst}[i] = ${src}[off];`);
  return loopKernel(ctx, params, numel(out.shape), body);
}

/** Start and element count of a slice of an axis of size `dim` (ONNX clamping rules). */
function clampSlice(dim: number, start: number, end: number, step: number): { start: number; count: number } {
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
  } else {
    s = Math.min(Math.max(s, 0), dim - 1);
    e = Math.min(Math.max(e, -1), dim - 1);
  }
  return { start: s, count: Math.max(0, Math.ceil((e - s) / step)) };
}

function slice(ctx: KernelContext): CudaLaunch {
  const x = ctx.requireInput(0);
  const rank = x.shape.length;
  const starts = ctx.constantInts(1, 'starts');
  const ends = ctx.constantInts(2, 'ends');
  const axes = ctx.input(3) ? ctx.constantInts(3, 'axes') : starts.map((_, i) => i);
  const steps = ctx.input(4) ? ctx.constantInts(4, 'steps') : starts.map(() => 1);
  const st = stridesOf(x.shape);
  const first = x.shape.map(() => 0);
  const step = x.shape.map(() => 1);
  axes.forEach((a0, i) => {
    const a = a0 < 0 ? a0 + rank : a0;
    const c = clampSlice(x.shape[a]!, starts[i]!, ends[i]!, steps[i]!);
    first[a] = c.start;
    step[a] = steps[i]!;
  });
  const out = ctx.output();
  const base = first.reduce((s, f, k) => s + f * st[k]!, 0);
  return strided(ctx, () => {
    const off = stridedOffset(out.shape, step.map((s, k) => s * st[k]!), 'i');
    return base === 0 ? off : `${intLit(base)} + ${off}`;
  });
}

function concat(ctx: KernelContext): CudaLaunch {
  const out = ctx.output();
  const rank = out.shape.length;
  const raw = attrInt(ctx.kernel.attrs, 'axis', 0);
  const axis = raw < 0 ? raw + rank : raw;
  const inner = numel(out.shape.slice(axis + 1));
  const outAxis = out.shape[axis]!;
  const params = new KernelParams();
  const inputs = ctx.kernel.inputs.map((_, k) => ctx.requireInput(k));
  const ptrs = inputs.map((s) => params.read(s.id, s.dtype));
  const dst = params.write(out.id, out.dtype);
  const it = indexType(numel(out.shape));
  const body = [
    `const ${it} o = ${outAxis * inner === 1 ? 'i' : `i / ${intLit(outAxis * inner)}`};`,
    `const ${it} a = ${inner === 1 ? `i % ${intLit(outAxis)}` : `(i / ${intLit(inner)}) % ${intLit(outAxis)}`};`,
    `const ${it} r = ${inner === 1 ? '0' : `i % ${intLit(inner)}`};`,
  ];
  let at = 0;
  const branches: string[] = [];
  inputs.forEach((s, k) => {
    const d = s.shape[axis]!;
    if (d === 0) return;
    const read = `${ptrs[k]}[(o * ${intLit(d)} + (a - ${intLit(at)})) * ${intLit(inner)} + r]`;
    at += d;
    branches.push(`if (a < ${intLit(at)}) ${dst}[i] = ${read};`);
  });
  body.push(branches.map((b, k) => (k === 0 ? b : `else ${b}`)).join('\n'));
  return loopKernel(ctx, params, numel(out.shape), body.join('\n').split('\n'));
}

function split(ctx: KernelContext): CudaLaunch {
  const x = ctx.requireInput(0);
  const rank = x.shape.length;
  const raw = attrInt(ctx.kernel.attrs, 'axis', 0);
  const axis = raw < 0 ? raw + rank : raw;
  const inner = numel(x.shape.slice(axis + 1));
  const inAxis = x.shape[axis]!;
  const params = new KernelParams();
  const src = params.read(x.id, x.dtype);
  const outs = ctx.kernel.outputs.map((_, k) => ctx.output(k));
  const ptrs = outs.map((s) => params.write(s.id, s.dtype));
  const it = indexType(numel(x.shape));
  const body = [
    `const ${it} o = ${inAxis * inner === 1 ? 'i' : `i / ${intLit(inAxis * inner)}`};`,
    `const ${it} a = ${inner === 1 ? `i % ${intLit(inAxis)}` : `(i / ${intLit(inner)}) % ${intLit(inAxis)}`};`,
    `const ${it} r = ${inner === 1 ? '0' : `i % ${intLit(inner)}`};`,
  ];
  let at = 0;
  const branches: string[] = [];
  outs.forEach((s, k) => {
    const d = s.shape[axis]!;
    if (d === 0) return;
    const write = `${ptrs[k]}[(o * ${intLit(d)} + (a - ${intLit(at)})) * ${intLit(inner)} + r] = ${src}[i];`;
    at += d;
    branches.push(`if (a < ${intLit(at)}) ${write}`);
  });
  body.push(...branches.map((b, k) => (k === 0 ? b : `else ${b}`)));
  return loopKernel(ctx, params, numel(x.shape), body);
}

function pad(ctx: KernelContext): CudaLaunch {
  const x = ctx.requireInput(0);
  const out = ctx.output();
  const rank = x.shape.length;
  const mode = attrString(ctx.kernel.attrs, 'mode', 'constant');
  if (!['constant', 'edge', 'reflect', 'wrap'].includes(mode)) throw ctx.refuse(`in mode ${mode}`);
  const pads = ctx.constantInts(1, 'pads');
  const axes = ctx.input(3) ? ctx.constantInts(3, 'axes').map((a) => (a < 0 ? a + rank : a)) : Array.from({ length: rank }, (_, i) => i);
  const begin = new Array<number>(rank).fill(0);
  const end = new Array<number>(rank).fill(0);
  axes.forEach((a, i) => {
    begin[a] = pads[i]!;
    end[a] = pads[i + axes.length]!;
  });
  const st = stridesOf(x.shape);
  const params = new KernelParams();
  const src = params.read(x.id, x.dtype);
  const value = ctx.input(2);
  const fill = value && numel(value.shape) > 0 ? `${params.read(value.id, value.dtype)}[0]` : '0';
  const dst = params.write(out.id, out.dtype);
  const it = indexType(numel(out.shape));
  const body: string[] = [`${it} off = 0;`];
  for (let k = 0; k < rank; k++) {
    const lo = Math.max(0, -begin[k]!);
    const m = x.shape[k]! - lo - Math.max(0, -end[k]!);
    const before = Math.max(0, begin[k]!);
    const c = coordinate(out.shape, k, 'i');
    if (out.shape[k] === 1 && x.shape[k] === 1 && before === 0) continue;
    if (m <= 0) {
      body.push(`${dst}[i] = ${fill}; continue;`);
      break;
    }
    body.push('{', `  ${it} j = ${c}${before ? ` - ${intLit(before)}` : ''};`);
    if (before > 0 || out.shape[k]! - before > m) {
      if (mode === 'constant') body.push(`  if (j < 0 || j >= ${intLit(m)}) { ${dst}[i] = ${fill}; continue; }`);
      else if (mode === 'edge') body.push(`  j = j < 0 ? 0 : (j >= ${intLit(m)} ? ${intLit(m - 1)} : j);`);
      else if (mode === 'wrap') body.push(`  j = ((j % ${intLit(m)}) + ${intLit(m)}) % ${intLit(m)};`);
      else if (m === 1) body.push('  j = 0;');
      else body.push(`  j = ((j % ${intLit(2 * (m - 1))}) + ${intLit(2 * (m - 1))}) % ${intLit(2 * (m - 1))};`, `  if (j >= ${intLit(m)}) j = ${intLit(2 * (m - 1))} - j;`);
    }
    body.push(`  off += (j${lo ? ` + ${intLit(lo)}` : ''}) * ${intLit(st[k]!)};`, '}');
  }
  body.push(`${dst}[i] = ${src}[off];`);
  return loopKernel(ctx, params, numel(out.shape), body);
}
