// Row reductions with their fused prologue and epilogue: ReduceX, Softmax/LogSoftmax (any axis),
// LayerNormalization/RMSNormalization, the global pools and ArgMax/ArgMin. The input is viewed as
// rows (the kept axes) of n elements (the reduced axes, possibly strided). Rows of more than 16
// elements get one block each (a power of two of 32..256 threads, warp-shuffle block reductions),
// LayerNorm rows of up to 1024 one warp each; shorter rows, and ArgMax/ArgMin, one thread each. Input elements are read through a lambda `X(e)`
// (e = flat offset into the anchor's input 0), which evaluates the prologue steps when there are
// any, so that input 0 is never written to memory. Statistics are computed in float (double for
// f64); LayerNorm's variance is the mean of squared deviations from the mean (two passes).

import type { ArtifactDType, CudaLaunch, ValueSlot } from '../../artifact/format.js';
import type { KernelContext } from './context.js';
import { anchorInputDtype, emitSteps, OperandLoads } from './elementwise.js';
import { attrFloat, attrInt, attrInts } from './plan-attrs.js';
import {
  BLOCK, blockPerRow, computeType, convert, fromStorage, gridStride, gridStrideLoop, indent, indexType, intLit, isFloatDtype, KernelParams, literal,
  load, numel, pow2Block, storageType, stridedOffset, stridesOf, store, toStorage, type Val,
} from './source.js';

const REDUCE_KINDS = ['Sum', 'Mean', 'Max', 'Min', 'SumSquare', 'L1', 'L2', 'LogSum', 'LogSumExp'] as const;
type ReduceKind = (typeof REDUCE_KINDS)[number];

export const REDUCTION_OPS: ReadonlySet<string> = new Set([
  ...REDUCE_KINDS.map((k) => `Reduce${k}`), 'Softmax', 'LogSoftmax', 'LayerNormalization', 'RMSNormalization',
  'GlobalAveragePool', 'GlobalMaxPool', 'ArgMax', 'ArgMin',
]);

/** Rows shorter than this are reduced by one thread each. */
const THREAD_ROW_MAX = 16;

/** LayerNorm rows of up to this many elements per thread stay in registers between the passes. */
const REGISTER_ROW_MAX = 16;

/**
 * LayerNorm rows of up to this many elements get one warp each (8 rows per 256-thread block; up to
 * 32 elements per lane, kept in registers): shuffles reduce them without block barriers or shared
 * memory. Longer rows get a block.
 */
const WARP_ROW_MAX = 1024;
const WARP_ROWS_PER_BLOCK = BLOCK / 32;

/** Shape of the anchor's input 0: its slot's, or with a prologue the broadcast of the prologue's operands. */
export function anchorInputShape(ctx: KernelContext): number[] {
  const pro = ctx.prologue;
  if (!pro.length) return ctx.requireInput(0).shape;
  const shapes: number[][] = [];
  for (const s of pro) for (const o of s.args) if ('input' in o) shapes.push(ctx.requireInput(o.input).shape);
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, k) => Math.max(1, ...shapes.map((s) => s[s.length - rank + k] ?? 1)));
}

/**
 * Lines defining `auto X = [&](it e) -> ct` that reads the anchor's input 0 (shape `dims`) at flat
 * offset e: a load, or the prologue steps evaluated there (their operands broadcast to `dims`).
 */
export function inputReader(ctx: KernelContext, params: KernelParams, dims: readonly number[], it: string): string[] {
  const xt = anchorInputDtype(ctx);
  const lam: string[] = [];
  let x: Val;
  if (ctx.prologue.length) {
    const loads = new OperandLoads(ctx, params, dims, 'e', lam, 'l');
    x = emitSteps(ctx.prologue, (o) => {
      if ('input' in o) return loads.input(o.input);
      throw new Error(`cuda: kernel ${ctx.kernel.id}: a prologue step reads the anchor's result`);
    }, 'q', lam);
  } else {
    const s = ctx.requireInput(0);
    const p = params.read(s.id, s.dtype);
    x = { expr: load(s.dtype, p, 'e'), dtype: s.dtype };
  }
  return [`auto X = [&](${it} e) -> ${computeType(xt)} {`, ...indent(lam, 2), `  return ${convert(x, xt)};`, '};'];
}

/** What a row kernel's body sees. */
interface RowEnv {
  params: KernelParams;
  /** Compute type of the input (and of the statistics). */
  ct: string;
  xt: ArtifactDType;
  it: string;
  n: number;
  /** This thread's first element and the step between its elements. */
  lane: string;
  lanes: number;
  /** Flat offset into input 0 of element `t` of the current row. */
  offset(t: string): string;
  /** Loop over this thread's elements of the row. */
  forEach(t: string, body: string[]): string[];
  /** Reduction across the row's threads (identity in one-thread rows). */
  reduce(kind: 'sum' | 'max' | 'min', v: string): string;
}

function normAxes(axes: readonly number[], rank: number): boolean[] {
  const r = new Array<boolean>(rank).fill(false);
  for (const a of axes) r[a < 0 ? a + rank : a] = true;
  return r;
}

/**
 * A kernel over the rows of input 0 (shape `dims`, `reduced` marking the row's axes): one block
 * (or one thread) per row, `row` and `base` defined, and X(e) reading input 0 at flat offset e.
 */
function rowKernel(
  ctx: KernelContext, dims: number[], reduced: boolean[], serial: boolean, body: (env: RowEnv) => string[], warpRows = false,
): CudaLaunch {
  const kept = dims.map((d, k) => (reduced[k] ? 1 : d));
  const st = stridesOf(dims);
  const rows = numel(kept);
  const n = numel(dims.filter((_, k) => reduced[k]));
  const thread = serial || n <= THREAD_ROW_MAX;
  const warp = !thread && warpRows && n <= WARP_ROW_MAX;
  const B = thread || warp ? BLOCK : pow2Block(n, 32, BLOCK);
  const xt = anchorInputDtype(ctx);
  ctx.checkDtype(xt);
  const ct = computeType(xt);
  const it = indexType(numel(dims));
  const params = new KernelParams();
  const lane = thread ? '0' : warp ? 'lane' : 'threadIdx.x';
  const redDims = dims.filter((_, k) => reduced[k]);
  const redStrides = st.filter((_, k) => reduced[k]);
  const keptDims = dims.filter((_, k) => !reduced[k]);
  const keptStrides = st.filter((_, k) => !reduced[k]);

  const reader = inputReader(ctx, params, dims, it);
  const env: RowEnv = {
    params, ct, xt, it, n, lane, lanes: thread ? 1 : warp ? 32 : B,
    offset: (t) => {
      const e = stridedOffset(redDims, redStrides, t);
      return e === '0' ? 'base' : `base + ${e}`;
    },
    forEach: (t, b) => [`for (${it} ${t} = ${lane}; ${t} < ${intLit(n)}; ${t} += ${env.lanes}) {`, ...indent(b, 2), '}'],
    reduce: (kind, v) => (thread ? v : warp ? `mcpc_warp_${kind}<${ct}>(${v})` : `mcpc_block_${kind}<${ct}>(${v}, red)`),
  };
  const inner = body(env);
  const lines: string[] = [];
  if (warp) {
    // Warp w of the block takes rows w, w + 8 * gridDim.x, ...: the loop is uniform within a warp.
    lines.push('const int lane = threadIdx.x & 31;');
    lines.push(`for (${it} row = blockIdx.x * ${WARP_ROWS_PER_BLOCK} + (threadIdx.x >> 5); row < ${intLit(rows)}; row += gridDim.x * ${WARP_ROWS_PER_BLOCK}) {`);
  } else {
    if (!thread) lines.push(`__shared__ ${ct} red[${B}];`);
    lines.push(thread ? `${gridStrideLoop('row', rows)} {` : `for (${it} row = blockIdx.x; row < ${intLit(rows)}; row += gridDim.x) {`);
  }
  lines.push(`  const ${it} base = ${stridedOffset(keptDims, keptStrides, 'row')};`);
  lines.push(...indent(reader, 2));
  lines.push(...indent(inner, 2), '}');
  const entry = ctx.module.addKernel(ctx.entry(), params.declaration, indent(lines, 2).join('\n') + '\n');
  const launch = thread ? gridStride(rows) : blockPerRow(warp ? Math.ceil(rows / WARP_ROWS_PER_BLOCK) : rows, B);
  return { entry, ...launch, args: params.slots };
}

/** Lines applying the epilogue to `acc` at flat output index `index` and storing into `out`. */
function finish(ctx: KernelContext, env: RowEnv, out: ValueSlot, index: string, acc: Val): string[] {
  const lines: string[] = [];
  let v = acc;
  if (ctx.epilogue.length) {
    const loads = new OperandLoads(ctx, env.params, out.shape, index, lines, 'y');
    v = emitSteps(ctx.epilogue, (o) => {
      if ('input' in o) return loads.input(o.input);
      if ('acc' in o) return acc;
      throw new Error('cuda: unexpected operand');
    }, 's', lines);
  }
  ctx.checkDtype(out.dtype);
  const p = env.params.write(out.id, out.dtype);
  lines.push(store(out.dtype, p, index, convert(v, out.dtype)));
  return lines;
}

export function generateReduction(ctx: KernelContext): CudaLaunch[] {
  const op = ctx.kernel.op;
  if (op.startsWith('Reduce')) return [reduce(ctx, op.slice('Reduce'.length) as ReduceKind)];
  switch (op) {
    case 'Softmax': case 'LogSoftmax': return [softmax(ctx, op === 'LogSoftmax')];
    case 'LayerNormalization': case 'RMSNormalization': return [layerNorm(ctx, op === 'RMSNormalization')];
    case 'GlobalAveragePool': case 'GlobalMaxPool': {
      const dims = anchorInputShape(ctx);
      return [reduceRows(ctx, op === 'GlobalMaxPool' ? 'Max' : 'Mean', dims, dims.map((_, k) => k >= 2))];
    }
    case 'ArgMax': case 'ArgMin': return [argReduce(ctx, op === 'ArgMax')];
    default: throw ctx.refuse();
  }
}

function reduce(ctx: KernelContext, kind: ReduceKind): CudaLaunch {
  if (!REDUCE_KINDS.includes(kind)) throw ctx.refuse();
  const dims = anchorInputShape(ctx);
  const rank = dims.length;
  let axes: number[] | undefined = ctx.input(1) ? ctx.constantInts(1, 'axes') : attrInts(ctx.kernel.attrs, 'axes');
  if (!axes || axes.length === 0) {
    if (attrInt(ctx.kernel.attrs, 'noop_with_empty_axes', 0) !== 0) throw ctx.refuse('with noop_with_empty_axes');
    axes = dims.map((_, k) => k);
  }
  return reduceRows(ctx, kind, dims, normAxes(axes, rank));
}

function reduceRows(ctx: KernelContext, kind: ReduceKind, dims: number[], reduced: boolean[]): CudaLaunch {
  const out = ctx.output();
  if (ctx.kernel.outputs.length !== 1) throw ctx.refuse(`with ${ctx.kernel.outputs.length} outputs`);
  const xt = anchorInputDtype(ctx);
  const float = isFloatDtype(xt);
  if (!float && !['Sum', 'Max', 'Min'].includes(kind)) throw ctx.refuse(`on ${xt}`);
  if (xt === 'bool') throw ctx.refuse('on bool');
  return rowKernel(ctx, dims, reduced, false, (env) => {
    const { ct, n } = env;
    const f = (name: string) => (ct === 'float' ? `${name}f` : name);
    const lines: string[] = [];
    const inf = float ? literal(Infinity, xt) : undefined;
    const lo = float ? `-${inf}` : `(${ct})${intExtreme(xt, false)}`;
    const hi = float ? inf! : `(${ct})${intExtreme(xt, true)}`;
    const mx = (a: string, b: string) => (ct === 'float' ? `mcpc_maxf(${a}, ${b})` : ct === 'double' ? `mcpc_maxd(${a}, ${b})` : `mcpc_maxi(${a}, ${b})`);
    const mn = (a: string, b: string) => (ct === 'float' ? `mcpc_minf(${a}, ${b})` : ct === 'double' ? `mcpc_mind(${a}, ${b})` : `mcpc_mini(${a}, ${b})`);
    let result: string;
    if (kind === 'Max' || kind === 'Min') {
      lines.push(`${ct} acc = ${kind === 'Max' ? lo : hi};`);
      lines.push(...env.forEach('t', [`acc = ${kind === 'Max' ? mx('acc', `X(${env.offset('t')})`) : mn('acc', `X(${env.offset('t')})`)};`]));
      lines.push(`acc = ${env.reduce(kind === 'Max' ? 'max' : 'min', 'acc')};`);
      result = 'acc';
    } else if (kind === 'LogSumExp') {
      lines.push(`${ct} m = ${lo};`, ...env.forEach('t', [`m = ${mx('m', `X(${env.offset('t')})`)};`]), `m = ${env.reduce('max', 'm')};`);
      lines.push(`const ${ct} shift = (m == ${lo} || m == ${hi}) ? (${ct})0 : m;`);
      lines.push(`${ct} acc = 0;`, ...env.forEach('t', [`acc += ${f('exp')}(X(${env.offset('t')}) - shift);`]), `acc = ${env.reduce('sum', 'acc')};`);
      result = `${f('log')}(acc) + shift`;
    } else {
      const term = kind === 'SumSquare' || kind === 'L2' ? 'v * v' : kind === 'L1' ? `${f('fabs')}(v)` : 'v';
      lines.push(`${ct} acc = 0;`, ...env.forEach('t', [`const ${ct} v = X(${env.offset('t')});`, `acc += ${term};`]), `acc = ${env.reduce('sum', 'acc')};`);
      result = kind === 'Mean' ? (float ? `acc / ${literal(n, xt)}` : `(${ct})(acc / ${n})`) : kind === 'L2' ? `${f('sqrt')}(acc)` : kind === 'LogSum' ? `${f('log')}(acc)` : 'acc';
    }
    lines.push(`if (${env.lane} == 0) {`, `  const ${ct} r = ${result};`, ...indent(finish(ctx, env, out, 'row', { expr: 'r', dtype: xt }), 2), '}');
    return lines;
  });
}

function intExtreme(d: ArtifactDType, max: boolean): string {
  const bits: Record<string, [string, string]> = {
    i8: ['-128', '127'], i16: ['-32768', '32767'], i32: ['(-2147483647 - 1)', '2147483647'], i64: ['(-9223372036854775807LL - 1)', '9223372036854775807LL'],
    u8: ['0', '255'], u16: ['0', '65535'], u32: ['0u', '4294967295u'], u64: ['0ULL', '18446744073709551615ULL'],
  };
  const e = bits[d];
  if (!e) throw new Error(`cuda: no extremes for ${d}`);
  return max ? e[1] : e[0];
}

function softmax(ctx: KernelContext, log: boolean): CudaLaunch {
  const out = ctx.output();
  const dims = anchorInputShape(ctx);
  const xt = anchorInputDtype(ctx);
  if (!isFloatDtype(xt)) throw ctx.refuse(`on ${xt}`);
  const rank = dims.length;
  const raw = attrInt(ctx.kernel.attrs, 'axis', -1);
  const axis = raw < 0 ? raw + rank : raw;
  return rowKernel(ctx, dims, dims.map((_, k) => k === axis), false, (env) => {
    const { ct } = env;
    const f = (name: string) => (ct === 'float' ? `${name}f` : name);
    const mx = ct === 'float' ? 'mcpc_maxf' : 'mcpc_maxd';
    const inf = literal(Infinity, xt);
    const lines = [
      `${ct} m = -${inf};`, ...env.forEach('t', [`m = ${mx}(m, X(${env.offset('t')}));`]), `m = ${env.reduce('max', 'm')};`,
      `${ct} sum = 0;`, ...env.forEach('t', [`sum += ${f('exp')}(X(${env.offset('t')}) - m);`]), `sum = ${env.reduce('sum', 'sum')};`,
    ];
    if (log) lines.push(`const ${ct} lse = m + ${f('log')}(sum);`);
    const value = log ? 'X(e) - lse' : `${f('exp')}(X(e) - m) / sum`;
    lines.push(...env.forEach('t', [`const ${env.it} e = ${env.offset('t')};`, `const ${ct} r = ${value};`, ...finish(ctx, env, out, 'e', { expr: 'r', dtype: xt })]));
    return lines;
  });
}

function layerNorm(ctx: KernelContext, rms: boolean): CudaLaunch {
  const out = ctx.output();
  const dims = anchorInputShape(ctx);
  const xt = anchorInputDtype(ctx);
  if (!isFloatDtype(xt)) throw ctx.refuse(`on ${xt}`);
  const rank = dims.length;
  const raw = attrInt(ctx.kernel.attrs, 'axis', -1);
  const axis = raw < 0 ? raw + rank : raw;
  const eps = attrFloat(ctx.kernel.attrs, 'epsilon', 1e-5);
  ctx.requireInput(1);
  const stats = ctx.kernel.outputs.slice(1).map((_, k) => ctx.output(k + 1));
  if (rms && stats.length) throw ctx.refuse(`with ${ctx.kernel.outputs.length} outputs`);
  const vectorized = vectorLayerNorm(ctx, dims, axis, eps, rms);
  if (vectorized) return vectorized;
  return rowKernel(ctx, dims, dims.map((_, k) => k >= axis), false, (env) => {
    const { ct, n } = env;
    const f = (name: string) => (ct === 'float' ? `${name}f` : name);
    const lines: string[] = [];
    // A row of up to REGISTER_ROW_MAX elements per thread is read once into registers (the input,
    // or its prologue, evaluated once per element); longer rows are read again by each pass.
    const perThread = Math.ceil(n / env.lanes);
    const cached = env.lanes > 1 && perThread <= (env.lanes === 32 ? WARP_ROW_MAX / 32 : REGISTER_ROW_MAX);
    const x = cached ? 'v[k]' : `X(${env.offset('t')})`;
    const each = (body: string[]): string[] =>
      cached
        ? [`#pragma unroll`, `for (int k = 0; k < ${perThread}; k++) {`, `  const ${env.it} t = ${env.lane} + k * ${env.lanes};`, `  if (t < ${intLit(n)}) {`, ...indent(body, 4), '  }', '}']
        : env.forEach('t', body);
    if (cached) {
      lines.push(`${ct} v[${perThread}];`, ...each([`v[k] = X(${env.offset('t')});`]));
    }
    if (rms) {
      lines.push(`const ${ct} mean = 0;`);
    } else {
      lines.push(`${ct} s = 0;`, ...each([`s += ${x};`]), `const ${ct} mean = ${env.reduce('sum', 's')} / ${literal(n, xt)};`);
    }
    lines.push(`${ct} ss = 0;`, ...each([`const ${ct} d = ${x} - mean;`, 'ss += d * d;']));
    lines.push(`const ${ct} inv = ${literal(1, xt)} / ${f('sqrt')}(${env.reduce('sum', 'ss')} / ${literal(n, xt)} + ${literal(eps, xt)});`);
    const body: string[] = [`const ${env.it} e = ${env.offset('t')};`];
    const loads = new OperandLoads(ctx, env.params, dims, 'e', body, 'g');
    const cv = (v: Val) => (computeType(v.dtype) === ct ? v.expr : `(${ct})${v.expr}`);
    const scale = loads.input(1);
    let value = `(${cached ? x : 'X(e)'} - mean) * inv * ${cv(scale)}`;
    if (!rms && ctx.input(2)) value += ` + ${cv(loads.input(2))}`;
    body.push(`const ${ct} r = ${value};`, ...finish(ctx, env, out, 'e', { expr: 'r', dtype: xt }));
    lines.push(...each(body));
    if (stats.length) {
      const st: string[] = [];
      stats.forEach((s, k) => {
        ctx.checkDtype(s.dtype);
        const p = env.params.write(s.id, s.dtype);
        st.push(store(s.dtype, p, 'row', convert({ expr: k === 0 ? 'mean' : 'inv', dtype: xt }, s.dtype)));
      });
      lines.push(`if (${env.lane} == 0) {`, ...indent(st, 2), '}');
    }
    return lines;
  }, true);
}

/**
 * LayerNorm/RMSNorm of f16/bf16 rows of 256 to 1024 elements (a multiple of 256) with the scale and
 * bias (if any) one value per row element, no prologue, epilogue or statistics outputs (every
 * LayerNorm of BERT and GPT-2 but the embeddings'): one warp per row, each lane reading and writing
 * 16-byte vectors (8 elements at lane * 8 + 256 * m), the row kept in registers.
 */
function vectorLayerNorm(ctx: KernelContext, dims: number[], axis: number, eps: number, rms: boolean): CudaLaunch | undefined {
  if (ctx.prologue.length || ctx.epilogue.length || ctx.kernel.outputs.length !== 1) return undefined;
  const x = ctx.requireInput(0);
  const out = ctx.output();
  const n = numel(dims.slice(axis));
  const rows = numel(dims.slice(0, axis));
  const half = x.dtype === 'f16' || x.dtype === 'bf16';
  const perRow = [ctx.requireInput(1), ...(!rms && ctx.input(2) ? [ctx.input(2)!] : [])];
  if (!half || out.dtype !== x.dtype) return undefined;
  if (n % 256 !== 0 || n > WARP_ROW_MAX || perRow.some((s) => s.dtype !== x.dtype || numel(s.shape) !== n)) return undefined;
  const vectors = n / 256;
  const T = storageType(x.dtype);
  const it = indexType(numel(dims));
  const params = new KernelParams();
  const [xp, gp, bp] = [params.read(x.id, x.dtype), ...perRow.map((s) => params.read(s.id, s.dtype))];
  const yp = params.write(out.id, out.dtype);
  const f = (e: string) => fromStorage(x.dtype, e);
  const union = (name: string) => `union { uint4 u; ${T} e[8]; } ${name};`;
  const lines = [
    'const int lane = threadIdx.x & 31;',
    `for (${it} row = blockIdx.x * ${WARP_ROWS_PER_BLOCK} + (threadIdx.x >> 5); row < ${intLit(rows)}; row += gridDim.x * ${WARP_ROWS_PER_BLOCK}) {`,
    `  const uint4* xr = reinterpret_cast<const uint4*>(${xp} + row * ${intLit(n)});`,
    `  uint4* yr = reinterpret_cast<uint4*>(${yp} + row * ${intLit(n)});`,
    `  float v[${vectors * 8}];`,
    '#pragma unroll',
    `  for (int m = 0; m < ${vectors}; m++) {`,
    `    ${union('q')}`,
    '    q.u = xr[lane + 32 * m];',
    '#pragma unroll',
    `    for (int j = 0; j < 8; j++) v[m * 8 + j] = ${f('q.e[j]')};`,
    '  }',
    ...(rms
      ? ['  const float mean = 0.0f;']
      : ['  float s = 0.0f;', '#pragma unroll', `  for (int k = 0; k < ${vectors * 8}; k++) s += v[k];`, `  const float mean = mcpc_warp_sum<float>(s) / ${literal(n, 'f32')};`]),
    '  float ss = 0.0f;',
    '#pragma unroll',
    `  for (int k = 0; k < ${vectors * 8}; k++) { const float d = v[k] - mean; ss += d * d; }`,
    `  const float inv = 1.0f / sqrtf(mcpc_warp_sum<float>(ss) / ${literal(n, 'f32')} + ${literal(eps, 'f32')});`,
    '#pragma unroll',
    `  for (int m = 0; m < ${vectors}; m++) {`,
    `    ${union('g')}`,
    `    g.u = reinterpret_cast<const uint4*>(${gp})[lane + 32 * m];`,
    ...(bp ? [`    ${union('b')}`, `    b.u = reinterpret_cast<const uint4*>(${bp})[lane + 32 * m];`] : []),
    `    ${union('r')}`,
    '#pragma unroll',
    `    for (int j = 0; j < 8; j++) r.e[j] = ${toStorage(x.dtype, `(v[m * 8 + j] - mean) * inv * ${f('g.e[j]')}${bp ? ` + ${f('b.e[j]')}` : ''}`)};`,
    '    yr[lane + 32 * m] = r.u;',
    '  }',
    '}',
  ];
  const entry = ctx.module.addKernel(ctx.entry(), params.declaration, indent(lines, 2).join('\n') + '\n');
  return { entry, ...blockPerRow(Math.ceil(rows / WARP_ROWS_PER_BLOCK), BLOCK), args: params.slots };
}

function argReduce(ctx: KernelContext, isMax: boolean): CudaLaunch {
  const out = ctx.output();
  const dims = anchorInputShape(ctx);
  const xt = anchorInputDtype(ctx);
  if (xt === 'bool') throw ctx.refuse('on bool');
  const rank = dims.length;
  const raw = attrInt(ctx.kernel.attrs, 'axis', 0);
  const axis = raw < 0 ? raw + rank : raw;
  const last = attrInt(ctx.kernel.attrs, 'select_last_index', 0) !== 0;
  if (dims[axis] === 0) throw ctx.refuse('over an empty axis');
  return rowKernel(ctx, dims, dims.map((_, k) => k === axis), true, (env) => {
    const { ct } = env;
    const cmp = isMax ? '>' : '<';
    return [
      `${ct} best = X(${env.offset('0')});`,
      'mcpc_i64 at = 0;',
      `for (${env.it} t = 1; t < ${intLit(env.n)}; t++) {`,
      `  const ${ct} v = X(${env.offset('t')});`,
      `  if (v ${cmp} best${last ? ' || v == best' : ''}) { best = v; at = t; }`,
      '}',
      ...finish(ctx, env, out, 'row', { expr: 'at', dtype: 'i64' }),
    ];
  });
}
