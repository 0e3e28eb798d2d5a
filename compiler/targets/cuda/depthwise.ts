// Depthwise convolutions (Conv and NhwcConv with group == C_in == C_out, 2-D, any window, stride,
// pads and dilation; f32/f16/bf16 accumulated in float) as one generated kernel that also adds the
// bias and computes the kernel's epilogue steps (emitSteps, as every pointwise kernel) before its
// single store. cuDNN's depthwise path is slow, in fp16 NHWC especially, and its epilogue needs a
// second launch over the output: here the op reads X once (taps from L1) and writes Y once.
//   NhwcConv  a thread owns V adjacent channels (16-byte vectors where C allows, else 8, 4, 2 bytes
//             or one element) and R = 1 or 2 adjacent output pixels along W, sharing the input
//             columns of overlapping windows; its channels' weights stay in registers for a
//             grid-stride loop over pixels. Block (channel groups, pixels): a warp reads along C.
//   Conv      a thread computes R adjacent outputs along W of one channel plane (1-D grid-stride
//             over N*C*OH*ceil(OW/R)); its channel's weights are loaded per item (warp-uniform).
// Windows larger than MAX_WEIGHT_FLOATS taps run a rolled tap loop that reads weights from memory.
// Anything else (other dtypes, a prologue, grouped or channel-multiplier convolutions) is left to
// the library route (library.ts): generateDepthwise returns undefined.

import type { ArtifactDType, CudaLaunch, ValueSlot } from '../../artifact/format.js';
import { planWindow } from '../../ops/pooling.js';
import type { KernelContext } from './context.js';
import { emitSteps, OperandLoads } from './elementwise.js';
import { attrInt, attrInts, irAttrs } from './plan-attrs.js';
import {
  BLOCK, computeType, convert, elementBytes, fromStorage, gridStride, gridStrideLoop, indent, indexType, intLit, KernelParams, load, numel,
  storageType, toStorage, type Val,
} from './source.js';

/** Weights (floats) a thread keeps in registers: V channels x KH*KW taps, 3x3 of 8 channels. */
const MAX_WEIGHT_FLOATS = 72;
/** Below this many threads a launch starves an H100/H200 (132 SMs): fewer outputs per thread. */
const MIN_THREADS = 1 << 15;
/** Most blocks of the NHWC kernel's grid-stride loop: a thread loads weights once, for many items. */
const NHWC_MAX_BLOCKS = 1024;

const VECTOR_TYPES: Readonly<Record<number, string>> = { 2: 'mcpc_u16', 4: 'mcpc_u32', 8: 'uint2', 16: 'uint4' };

interface Geometry {
  N: number; C: number; H: number; W: number;
  KH: number; KW: number; OH: number; OW: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

/** What the two layouts' kernels share. */
interface Emit {
  ctx: KernelContext;
  g: Geometry;
  x: ValueSlot;
  out: ValueSlot;
  params: KernelParams;
  xp: string;
  wp: string;
  bp?: string;
  /** Index type of offsets into X and Y. */
  it: string;
  /** Taps per channel, KH * KW. */
  kk: number;
}

/**
 * The kernel of a depthwise Conv/NhwcConv with its bias and epilogue, or undefined when the kernel
 * is not one (or has a form this generator leaves to cuDNN).
 */
export function generateDepthwise(ctx: KernelContext): CudaLaunch[] | undefined {
  const k = ctx.kernel;
  const channelsLast = k.op === 'NhwcConv';
  if (k.op !== 'Conv' && !channelsLast) return undefined;
  if (k.outputs.length !== 1 || ctx.prologue.length) return undefined;
  const x = ctx.input(0);
  const w = ctx.input(1);
  if (!x || !w || x.shape.length !== 4 || w.shape.length !== 4) return undefined;
  if (!(x.dtype === 'f32' || x.dtype === 'f16' || x.dtype === 'bf16') || w.dtype !== x.dtype) return undefined;
  const out = ctx.output();
  const [N, C, H, W] = (channelsLast ? [x.shape[0], x.shape[3], x.shape[1], x.shape[2]] : x.shape) as [number, number, number, number];
  // W is [C, 1, KH, KW] (Conv) or [C, KH, KW, 1] (NhwcConv) with channel multiplier 1.
  const [M, perGroup, KH, KW] = (channelsLast ? [w.shape[0], w.shape[3], w.shape[1], w.shape[2]] : w.shape) as [number, number, number, number];
  if (attrInt(k.attrs, 'group', 1) !== C || M !== C || perGroup !== 1) return undefined;
  const kernelShape = attrInts(k.attrs, 'kernel_shape');
  if (kernelShape && (kernelShape.length !== 2 || kernelShape[0] !== KH || kernelShape[1] !== KW)) return undefined;
  const bias = ctx.input(2);
  if (bias && (bias.dtype !== x.dtype || bias.shape.length !== 1 || bias.shape[0] !== C)) return undefined;
  const win = planWindow(irAttrs(k.attrs), [H, W], [KH, KW], false);
  const [OH, OW] = win.out as [number, number];
  const outShape = channelsLast ? [N, OH, OW, C] : [N, C, OH, OW];
  if (out.shape.length !== 4 || out.shape.some((d, i) => d !== outShape[i])) return undefined;
  ctx.checkDtype(out.dtype);
  if (numel(out.shape) === 0) return undefined;
  const g: Geometry = {
    N, C, H, W, KH, KW, OH, OW,
    sh: win.strides[0]!, sw: win.strides[1]!, ph: win.pads[0]!, pw: win.pads[1]!, dh: win.dilations[0]!, dw: win.dilations[1]!,
  };
  const params = new KernelParams();
  const e: Emit = {
    ctx, g, x, out, params,
    xp: params.read(x.id, x.dtype),
    wp: params.read(w.id, w.dtype),
    bp: bias && params.read(bias.id, bias.dtype),
    it: indexType(Math.max(numel(x.shape), numel(out.shape))),
    kk: KH * KW,
  };
  return [channelsLast ? nhwcKernel(e) : nchwKernel(e)];
}

/**
 * Input column offsets (from the thread's first column ow0 * sw - pw) of R adjacent outputs along
 * W, each with the (output r, tap kw) pairs that read it, in increasing order: overlapping windows
 * load a column once.
 */
function columnUses(R: number, g: Geometry): [number, { r: number; kw: number }[]][] {
  const cols = new Map<number, { r: number; kw: number }[]>();
  for (let r = 0; r < R; r++) {
    for (let kw = 0; kw < g.KW; kw++) {
      const q = r * g.sw + kw * g.dw;
      const uses = cols.get(q) ?? [];
      uses.push({ r, kw });
      cols.set(q, uses);
    }
  }
  return [...cols].sort((a, b) => a[0] - b[0]);
}

type Uses = { r: number; kw: number }[];

/**
 * Columns [q0, q0 + len) that every thread reads inside X and from an aligned address: their
 * values come from vector loads made once per window row (`load`), without bounds checks.
 */
interface ColumnBlock {
  q0: number;
  len: number;
  /** Lines loading the block of input row `row`. */
  load(row: string): string[];
  /** The lines of column q (q0 <= q < q0 + len) from the loaded block. */
  column(q: number, uses: Uses, kh: number): string[];
}

/**
 * The unrolled taps of one output row of R outputs: per window row kh, the row pointer (when ih is
 * inside X), then per input column its load (when iw is inside) and the accumulations that read it.
 * `rowPtr(ih)` is the pointer to input row ih; `column(ptr, iw, uses, kh)` the lines of one column.
 */
function unrolledTaps(
  g: Geometry, R: number, rowPtr: (ih: string) => string,
  column: (row: string, iw: string, uses: Uses, kh: number) => string[], block?: ColumnBlock,
): string[] {
  const lines: string[] = [];
  const cols = columnUses(R, g);
  const inBlock = (q: number) => block !== undefined && q >= block.q0 && q < block.q0 + block.len;
  for (let kh = 0; kh < g.KH; kh++) {
    const dy = kh * g.dh - g.ph;
    lines.push('{', `  const int ih = ${times('oh', g.sh)}${signed(dy)};`, `  if ((unsigned)ih < ${g.H}u) {`, `    const auto xr = ${rowPtr('ih')};`);
    if (block) lines.push(...indent(block.load('xr'), 4));
    for (const [q, uses] of cols) {
      if (inBlock(q)) lines.push('    {', ...indent(block!.column(q, uses, kh), 6), '    }');
      else lines.push('    {', `      const int iw = iw0${signed(q)};`, `      if ((unsigned)iw < ${g.W}u) {`, ...indent(column('xr', 'iw', uses, kh), 8), '      }', '    }');
    }
    lines.push('  }', '}');
  }
  return lines;
}

/**
 * The window as loops (large windows, weights read from memory): per input row and column inside
 * X, the lines of `tap` (which see ih, kh, kw, iw and xr, the pointer to row ih).
 */
function rolledTaps(g: Geometry, rowPtr: (ih: string) => string, tap: string[]): string[] {
  return [
    `for (int kh = 0; kh < ${g.KH}; kh++) {`,
    `  const int ih = ${times('oh', g.sh)} + ${times('kh', g.dh)}${signed(-g.ph)};`,
    `  if ((unsigned)ih >= ${g.H}u) continue;`,
    `  const auto xr = ${rowPtr('ih')};`,
    `  for (int kw = 0; kw < ${g.KW}; kw++) {`,
    `    const int iw = iw0 + ${times('kw', g.dw)};`,
    `    if ((unsigned)iw >= ${g.W}u) continue;`,
    ...indent(tap, 4),
    '  }',
    '}',
  ];
}

/** `x * k` without a factor of 1. */
function times(x: string, k: number): string {
  return k === 1 ? x : `${x} * ${k}`;
}

function signed(n: number): string {
  return n === 0 ? '' : n > 0 ? ` + ${n}` : ` - ${-n}`;
}

/** `union { <vector of V elements> u; T e[V]; } name;` (V * element bytes of 2, 4, 8 or 16). */
function unionDecl(name: string, d: ArtifactDType, V: number): string {
  const vt = VECTOR_TYPES[V * elementBytes(d)];
  if (!vt) throw new Error(`cuda: no vector type of ${V} x ${d}`);
  return `union { ${vt} u; ${storageType(d)} e[${V}]; } ${name};`;
}

function vectorRead(name: string, d: ArtifactDType, V: number, ptr: string): string[] {
  return [unionDecl(name, d, V), `${name}.u = *reinterpret_cast<const ${VECTOR_TYPES[V * elementBytes(d)]}*>(${ptr});`];
}

/**
 * The epilogue of one output element: the steps on acc (a float in the convolution's dtype), with
 * their operands loaded at flat output index `i` (defined from `index` when a load needs it), and
 * the value to store in the output's storage type.
 */
function epilogue(e: Emit, acc: string, index: string): { lines: string[]; stored: string } {
  const body: string[] = [];
  let result: Val = { expr: acc, dtype: e.x.dtype };
  if (e.ctx.epilogue.length) {
    const loads = new OperandLoads(e.ctx, e.params, e.out.shape, 'i', body, 'y');
    result = emitSteps(e.ctx.epilogue, (o) => {
      if ('input' in o) return loads.input(o.input);
      if ('acc' in o) return { expr: acc, dtype: e.x.dtype };
      throw new Error('cuda: unexpected operand');
    }, 's', body);
  }
  const lines = body.some((l) => /\bi\b/.test(l)) ? [`const ${e.it} i = ${index};`, ...body] : body;
  return { lines, stored: toStorage(e.out.dtype, convert(result, e.out.dtype)) };
}

/** Largest power of two <= max dividing n (1 when n is odd). */
function pow2Divisor(n: number, max: number): number {
  let v = max;
  while (v > 1 && n % v !== 0) v /= 2;
  return v;
}

/**
 * NhwcConv: X [N,H,W,C], W [C,KH,KW,1] (each channel's taps contiguous), Y [N,OH,OW,C]. Thread
 * (blockIdx.x * BX + threadIdx.x) owns channels c = g*V .. g*V+V-1; its weights are V*KK contiguous
 * elements at c*KK, loaded as KK vectors. The y dimension loops over pixel items (n, oh, R outputs
 * along W).
 */
function nhwcKernel(e: Emit): CudaLaunch {
  const { g, x, out, it } = e;
  const xb = elementBytes(x.dtype);
  const ct = computeType(x.dtype);
  let V = pow2Divisor(g.C, 16 / xb);
  while (V > 1 && V * e.kk > MAX_WEIGHT_FLOATS) V /= 2;
  const rolled = V * e.kk > MAX_WEIGHT_FLOATS;
  const Cv = g.C / V;
  // Two outputs along W share input columns where windows overlap.
  const overlap = (g.KW - 1) * g.dw + 1 > g.sw;
  const R = !rolled && overlap && g.OW >= 2 && g.N * g.OH * Math.ceil(g.OW / 2) * Cv >= MIN_THREADS ? 2 : 1;
  const OWG = Math.ceil(g.OW / R);
  const P = g.N * g.OH * OWG;
  const pt = indexType(P);
  // Block: every channel group of a pixel (split when there are more than BLOCK), pixels along y.
  let bx: number, by: number;
  if (Cv <= BLOCK) {
    bx = Cv;
    by = Math.max(1, Math.floor(BLOCK / Cv));
  } else {
    bx = Math.ceil(Math.ceil(Cv / Math.ceil(Cv / BLOCK)) / 32) * 32;
    by = 1;
  }
  const gx = Math.ceil(Cv / bx);
  const gy = Math.max(1, Math.min(Math.ceil(P / by), Math.max(1, Math.floor(NHWC_MAX_BLOCKS / gx)), 65535));
  const cvt = (s: string) => fromStorage(x.dtype, s);
  // An int operand widened where offsets into X or Y need 64 bits.
  const wide = (v: string) => (it === 'int' ? v : `(${it})${v}`);

  const lines: string[] = [`const int cg = blockIdx.x * ${bx} + threadIdx.x;`];
  if (gx * bx > Cv) lines.push(`if (cg >= ${Cv}) return;`);
  lines.push(`const int c = cg * ${V};`);
  if (!rolled) {
    // The thread's V*KK weights, channel-major: element f is channel f / KK, tap f % KK.
    lines.push(
      `float w[${V}][${e.kk}];`,
      '#pragma unroll',
      `for (int t = 0; t < ${e.kk}; t++) {`,
      ...indent(vectorRead('wv', x.dtype, V, `${e.wp} + ${wide('c')} * ${e.kk} + t * ${V}`), 2),
      '#pragma unroll',
      `  for (int j = 0; j < ${V}; j++) w[(t * ${V} + j) / ${e.kk}][(t * ${V} + j) % ${e.kk}] = ${cvt('wv.e[j]')};`,
      '}',
    );
  }
  lines.push(`${ct} b[${V}];`);
  if (e.bp) lines.push('{', ...indent(vectorRead('bv', x.dtype, V, `${e.bp} + c`), 2), '#pragma unroll', `  for (int j = 0; j < ${V}; j++) b[j] = ${cvt('bv.e[j]')};`, '}');
  else lines.push('#pragma unroll', `for (int j = 0; j < ${V}; j++) b[j] = 0.0f;`);

  const body: string[] = [
    `const int ow0 = ${OWG === 1 ? '0' : `(int)(p % ${OWG}) * ${R}`};`,
    `const ${pt} q = p / ${OWG};`,
    `const int oh = (int)(q % ${g.OH});`,
    `const ${it} n = q / ${g.OH};`,
    `const int iw0 = ${times('ow0', g.sw)}${signed(-g.pw)};`,
    `const ${storageType(x.dtype)}* xn = ${e.xp} + n * ${intLit(g.H * g.W * g.C)} + c;`,
    `${ct} acc[${R}][${V}];`,
    '#pragma unroll',
    `for (int r = 0; r < ${R}; r++) {`,
    '#pragma unroll',
    `  for (int j = 0; j < ${V}; j++) acc[r][j] = b[j];`,
    '}',
  ];
  const rowPtr = (ih: string) => `xn + ${wide(ih)} * ${intLit(g.W * g.C)}`;
  if (rolled) {
    body.push(...rolledTaps(g, rowPtr, [
      ...vectorRead('xv', x.dtype, V, `xr + ${wide('iw')} * ${g.C}`),
      '#pragma unroll',
      `for (int j = 0; j < ${V}; j++) acc[0][j] += ${cvt('xv.e[j]')} * ${load(x.dtype, e.wp, `(${wide('c')} + j) * ${e.kk} + kh * ${g.KW} + kw`)};`,
    ]));
  } else {
    body.push(...unrolledTaps(g, R, rowPtr, (row, iw, uses, kh) => [
      ...vectorRead('xv', x.dtype, V, `${row} + ${wide(iw)} * ${g.C}`),
      '#pragma unroll',
      `for (int j = 0; j < ${V}; j++) {`,
      `  const ${ct} xj = ${cvt('xv.e[j]')};`,
      ...uses.map(({ r, kw }) => `  acc[${r}][j] += xj * w[j][${kh * g.KW + kw}];`),
      '}',
    ]));
  }
  // Epilogue per element, then one vector store per output pixel (scalar stores when the output's
  // vector would be wider than 16 bytes, after an epilogue that widens the dtype).
  const ob = elementBytes(out.dtype);
  const vectorStore = VECTOR_TYPES[V * ob] !== undefined;
  const epi = epilogue(e, 'acc[r][j]', `obase + r * ${g.C} + j`);
  const y = e.params.write(out.id, out.dtype);
  body.push(
    `const ${it} obase = ((n * ${g.OH} + oh) * ${g.OW} + ow0) * ${g.C} + c;`,
    '#pragma unroll',
    `for (int r = 0; r < ${R}; r++) {`,
    ...(g.OW % R !== 0 ? [`  if (ow0 + r >= ${g.OW}) break;`] : []),
    ...(vectorStore ? [`  ${unionDecl('yv', out.dtype, V)}`] : []),
    '#pragma unroll',
    `  for (int j = 0; j < ${V}; j++) {`,
    ...indent(epi.lines, 4),
    vectorStore ? `    yv.e[j] = ${epi.stored};` : `    ${y}[obase + r * ${g.C} + j] = ${epi.stored};`,
    '  }',
    ...(vectorStore ? [`  *reinterpret_cast<${VECTOR_TYPES[V * ob]}*>(${y} + obase + r * ${g.C}) = yv.u;`] : []),
    '}',
  );
  const cast = pt === 'int' ? '' : `(${pt})`;
  lines.push(`for (${pt} p = ${cast}blockIdx.y * ${by} + threadIdx.y; p < ${intLit(P)}; p += ${cast}gridDim.y * ${by}) {`, ...indent(body, 2), '}');
  const entry = e.ctx.module.addKernel(e.ctx.entry(`${e.ctx.kernel.op}_depthwise`), e.params.declaration, indent(lines, 2).join('\n') + '\n');
  return { entry, grid: [gx, gy, 1], block: [bx, by, 1], sharedBytes: 0, args: e.params.slots };
}

/**
 * The columns iw = ow0 * sw + [0, sw * R) of an NCHW thread, which start at a multiple of sw * R
 * and stay inside X when sw * OW <= W: loaded as vectors of up to 16 bytes (rows must keep them
 * aligned: W a multiple of the vector) instead of one element each. Undefined when that does not
 * hold, or when the block would load columns no tap reads.
 */
function nchwBlock(e: Emit, R: number, fma: (uses: Uses, kh: number) => string[]): ColumnBlock | undefined {
  const { g, x } = e;
  const len = g.sw * R;
  if (R === 1 || g.sw * g.OW > g.W) return undefined;
  let chunk = 16 / elementBytes(x.dtype);
  while (chunk > 1 && (len % chunk !== 0 || g.W % chunk !== 0)) chunk /= 2;
  if (chunk === 1) return undefined;
  const cols = new Map(columnUses(R, g));
  for (let q = g.pw; q < g.pw + len; q++) if (!cols.has(q)) return undefined;
  const vt = VECTOR_TYPES[chunk * elementBytes(x.dtype)]!;
  return {
    q0: g.pw,
    len,
    load: (row) => Array.from({ length: len / chunk }, (_, k) => [
      unionDecl(`xb${k}`, x.dtype, chunk),
      `xb${k}.u = *reinterpret_cast<const ${vt}*>(${row} + ${times('ow0', g.sw)}${signed(k * chunk)});`,
    ]).flat(),
    column: (q, uses, kh) => {
      const k = q - g.pw;
      return [`const ${computeType(x.dtype)} xv = ${fromStorage(x.dtype, `xb${Math.floor(k / chunk)}.e[${k % chunk}]`)};`, ...fma(uses, kh)];
    },
  };
}

/**
 * Conv: X [N,C,H,W], W [C,1,KH,KW], Y [N,C,OH,OW]. One item is R adjacent outputs along W of one
 * plane (n, c); items run in plane order, so a warp's weight loads are mostly one address.
 */
function nchwKernel(e: Emit): CudaLaunch {
  const { g, x, out, it } = e;
  const ct = computeType(x.dtype);
  const ob = elementBytes(out.dtype);
  const rolled = e.kk > MAX_WEIGHT_FLOATS;
  // Outputs per thread: up to a 16-byte store, dividing OW, while the launch keeps enough threads.
  let R = 1;
  if (!rolled) {
    for (let r = 16 / ob; r > 1; r /= 2) {
      if (g.OW % r === 0 && g.N * g.C * g.OH * (g.OW / r) >= MIN_THREADS) {
        R = r;
        break;
      }
    }
  }
  const OWG = g.OW / R;
  const items = g.N * g.C * g.OH * OWG;
  const pt = indexType(items);
  const body: string[] = [
    `const int ow0 = ${OWG === 1 ? '0' : `(int)(t % ${OWG}) * ${R}`};`,
    `const ${pt} q = t / ${OWG};`,
    `const int oh = (int)(q % ${g.OH});`,
    `const ${it} pl = q / ${g.OH};`,
    `const int c = (int)(pl % ${g.C});`,
    `const int iw0 = ${times('ow0', g.sw)}${signed(-g.pw)};`,
    `const ${storageType(x.dtype)}* xp = ${e.xp} + pl * ${intLit(g.H * g.W)};`,
  ];
  if (!rolled) body.push(`${ct} w[${e.kk}];`, '#pragma unroll', `for (int k = 0; k < ${e.kk}; k++) w[k] = ${load(x.dtype, e.wp, `c * ${e.kk} + k`)};`);
  body.push(`const ${ct} b = ${e.bp ? load(x.dtype, e.bp, 'c') : '0.0f'};`, `${ct} acc[${R}];`, '#pragma unroll', `for (int r = 0; r < ${R}; r++) acc[r] = b;`);
  const rowPtr = (ih: string) => `xp + ${ih} * ${g.W}`;
  if (rolled) {
    body.push(...rolledTaps(g, rowPtr, [`acc[0] += ${load(x.dtype, 'xr', 'iw')} * ${load(x.dtype, e.wp, `c * ${e.kk} + kh * ${g.KW} + kw`)};`]));
  } else {
    const fma = (uses: Uses, kh: number) => uses.map(({ r, kw }) => `acc[${r}] += xv * w[${kh * g.KW + kw}];`);
    body.push(...unrolledTaps(g, R, rowPtr, (row, iw, uses, kh) => [`const ${ct} xv = ${load(x.dtype, row, iw)};`, ...fma(uses, kh)], nchwBlock(e, R, fma)));
  }
  // R divides OW: the R outputs are contiguous and R-aligned, one vector store when R * size fits.
  const vt = R > 1 ? VECTOR_TYPES[R * ob] : undefined;
  const epi = epilogue(e, 'acc[r]', 'obase + r');
  const y = e.params.write(out.id, out.dtype);
  body.push(`const ${it} obase = pl * ${intLit(g.OH * g.OW)} + oh * ${g.OW} + ow0;`);
  if (vt) body.push(unionDecl('yv', out.dtype, R));
  body.push(
    '#pragma unroll',
    `for (int r = 0; r < ${R}; r++) {`,
    ...indent(epi.lines, 2),
    vt ? `  yv.e[r] = ${epi.stored};` : `  ${y}[obase + r] = ${epi.stored};`,
    '}',
  );
  if (vt) body.push(`*reinterpret_cast<${vt}*>(${y} + obase) = yv.u;`);
  const lines = [`${gridStrideLoop('t', items)} {`, ...indent(body, 2), '}'];
  const entry = e.ctx.module.addKernel(e.ctx.entry(`${e.ctx.kernel.op}_depthwise`), e.params.declaration, indent(lines, 2).join('\n') + '\n');
  return { entry, ...gridStride(items), args: e.params.slots };
}
