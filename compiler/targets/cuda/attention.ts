// Attention (the fused op, compiler/ops/attention.ts): one block per query row (b, h, i). The
// block stages the query in shared memory, computes the row's T scores (one key per thread, a dot
// product over D), adds the mask and the causal/window constraints, takes a numerically stable
// softmax with block reductions, and writes Y[b, h, i, :] = sum_j p_j V[j, :] (one output column per
// thread). Grouped heads (Hq a multiple of Hkv) and 3-D packed inputs are handled by the offsets;
// KV cache inputs, nonpad_kv_seqlen and the extra outputs are not. A row whose keys are all
// masked gives zeros, as in the reference. T is limited by shared memory (scores are kept there).

import type { CudaLaunch, ValueSlot } from '../../artifact/format.js';
import type { KernelContext } from './context.js';
import { attrFloat, attrInt, hasAttr } from './plan-attrs.js';
import { blockPerRow, fromStorage, indent, intLit, isFloatDtype, KernelParams, literal, MAX_SHARED_BYTES, numel, pow2Block, store } from './source.js';

export function generateAttention(ctx: KernelContext): CudaLaunch[] {
  const k = ctx.kernel;
  if (ctx.prologue.length || ctx.epilogue.length) throw ctx.refuse('with fused steps');
  if (k.outputs.length > 1) throw ctx.refuse('with present_key/present_value/qk outputs');
  if (ctx.input(4) || ctx.input(5)) throw ctx.refuse('with past_key/past_value');
  if (ctx.input(6)) throw ctx.refuse('with nonpad_kv_seqlen');
  const [Q, K, V] = [0, 1, 2].map((i) => ctx.requireInput(i)) as [ValueSlot, ValueSlot, ValueSlot];
  const mask = ctx.input(3);
  const out = ctx.output();
  for (const s of [Q, K, V, out, ...(mask ? [mask] : [])]) ctx.checkDtype(s.dtype);
  if (!isFloatDtype(Q.dtype) || Q.dtype === 'f64') throw ctx.refuse(`on ${Q.dtype}`);
  const rank = Q.shape.length;
  let B: number, Hq: number, Hkv: number, Sq: number, T: number, D: number, Dv: number;
  if (rank === 4) {
    [B, Hq, Sq, D] = Q.shape as [number, number, number, number];
    [Hkv, T] = [K.shape[1]!, K.shape[2]!];
    Dv = V.shape[3]!;
  } else if (rank === 3) {
    Hq = attrInt(k.attrs, 'q_num_heads', 0);
    Hkv = attrInt(k.attrs, 'kv_num_heads', 0);
    [B, Sq] = [Q.shape[0]!, Q.shape[1]!];
    D = Q.shape[2]! / Hq;
    T = K.shape[1]!;
    Dv = V.shape[2]! / Hkv;
  } else {
    throw ctx.refuse(`on rank-${rank} inputs`);
  }
  const group = Hq / Hkv;
  const scale = hasAttr(k.attrs, 'scale') ? attrFloat(k.attrs, 'scale', 1) : 1 / Math.sqrt(D);
  const softcap = attrFloat(k.attrs, 'softcap', 0);
  const causal = attrInt(k.attrs, 'is_causal', 0) !== 0;
  const left = attrInt(k.attrs, 'left_window_size', -1);
  const right = attrInt(k.attrs, 'right_window_size', -1);
  const threads = pow2Block(Math.max(T, Dv), 32, 128);
  const sharedBytes = 4 * (D + T + threads);
  if (sharedBytes > MAX_SHARED_BYTES) throw ctx.refuse(`over ${T} keys (the scores of a row must fit in shared memory)`);

  const big = Math.max(numel(Q.shape), numel(K.shape), numel(V.shape), numel(out.shape), mask ? numel(mask.shape) : 0) > 2 ** 30;
  const it = big ? 'mcpc_i64' : 'int';
  const params = new KernelParams();
  const q = params.read(Q.id, Q.dtype);
  const kp = params.read(K.id, K.dtype);
  const v = params.read(V.id, V.dtype);
  const m = mask ? params.read(mask.id, mask.dtype) : undefined;
  const y = params.write(out.id, out.dtype);
  const L = (x: number) => intLit(x);
  const qOff = (d: string) => (rank === 4 ? `((${it})(b * ${L(Hq)} + h) * ${L(Sq)} + i) * ${L(D)} + ${d}` : `((${it})b * ${L(Sq)} + i) * ${L(Hq * D)} + h * ${L(D)} + ${d}`);
  const kOff = (j: string, d: string) => (rank === 4 ? `((${it})(b * ${L(Hkv)} + kvh) * ${L(T)} + ${j}) * ${L(D)} + ${d}` : `((${it})b * ${L(T)} + ${j}) * ${L(Hkv * D)} + kvh * ${L(D)} + ${d}`);
  const vOff = (j: string, e: string) => (rank === 4 ? `((${it})(b * ${L(Hkv)} + kvh) * ${L(T)} + ${j}) * ${L(Dv)} + ${e}` : `((${it})b * ${L(T)} + ${j}) * ${L(Hkv * Dv)} + kvh * ${L(Dv)} + ${e}`);
  const yOff = (e: string) => (rank === 4 ? `((${it})(b * ${L(Hq)} + h) * ${L(Sq)} + i) * ${L(Dv)} + ${e}` : `((${it})b * ${L(Sq)} + i) * ${L(Hq * Dv)} + h * ${L(Dv)} + ${e}`);
  const ninf = `-${literal(Infinity, 'f32')}`;

  // The additive bias of key j: the mask (or -inf for false / beyond its last dim) and -inf for
  // each constraint the key breaks.
  const constrained = !!mask || causal || left >= 0 || right >= 0;
  const bias: string[] = constrained ? ['float bias = 0.0f;'] : [];
  if (mask) {
    const md = [...new Array<number>(4 - mask.shape.length).fill(1), ...mask.shape];
    const Lm = md[3]!;
    const st = [md[1]! * md[2]! * Lm, md[2]! * Lm, Lm].map((x, i) => (md[i] === 1 ? 0 : x));
    const terms = [st[0] ? `(${it})b * ${L(st[0])}` : '', st[1] ? `(${it})h * ${L(st[1])}` : '', st[2] ? `(${it})i * ${L(st[2])}` : '', 'j'].filter(Boolean).join(' + ');
    const value = mask.dtype === 'bool' ? `(${m}[${terms}] != 0 ? 0.0f : ${ninf})` : `(float)${fromStorage(mask.dtype, `${m}[${terms}]`)}`;
    bias.push(Lm < T ? `bias = j < ${L(Lm)} ? ${value} : ${ninf};` : `bias = ${value};`);
  }
  if (causal) bias.push(`if (j > i) bias = ${ninf};`);
  if (left >= 0) bias.push(`if (i - j > ${left}) bias = ${ninf};`);
  if (right >= 0) bias.push(`if (j - i > ${right}) bias = ${ninf};`);

  const rows = B * Hq * Sq;
  const lines = [
    `__shared__ float qs[${D}];`,
    `__shared__ float sc[${T}];`,
    `__shared__ float red[${threads}];`,
    `for (int row = blockIdx.x; row < ${L(rows)}; row += gridDim.x) {`,
    `  const int b = row / ${L(Hq * Sq)};`,
    `  const int h = (row / ${L(Sq)}) % ${L(Hq)};`,
    `  const int i = row % ${L(Sq)};`,
    `  const int kvh = h / ${group};`,
    `  for (int d = threadIdx.x; d < ${D}; d += ${threads}) qs[d] = ${fromStorage(Q.dtype, `${q}[${qOff('d')}]`)};`,
    '  __syncthreads();',
    `  float lmax = ${ninf};`,
    ...(constrained ? ['  float live = 0.0f;'] : []),
    `  for (int j = threadIdx.x; j < ${T}; j += ${threads}) {`,
    '    float acc = 0.0f;',
    `    for (int d = 0; d < ${D}; d++) acc += qs[d] * ${fromStorage(K.dtype, `${kp}[${kOff('j', 'd')}]`)};`,
    `    float x = acc * ${literal(scale, 'f32')};`,
    ...(softcap > 0 ? [`    x = tanhf(x / ${literal(softcap, 'f32')}) * ${literal(softcap, 'f32')};`] : []),
    ...indent(bias, 4),
    ...(constrained ? [`    if (bias != ${ninf}) live = 1.0f;`] : []),
    ...(constrained ? ['    x += bias;'] : []),
    '    sc[j] = x;',
    '    lmax = mcpc_maxf(lmax, x);',
    '  }',
    '  const float mx = mcpc_block_max<float>(lmax, red);',
    constrained ? '  const float anyLive = mcpc_block_max<float>(live, red);' : '  const float anyLive = 1.0f;',
    `  const float shift = mx == ${ninf} ? 0.0f : mx;`,
    '  float lsum = 0.0f;',
    `  for (int j = threadIdx.x; j < ${T}; j += ${threads}) {`,
    '    const float e = expf(sc[j] - shift);',
    '    sc[j] = e;',
    '    lsum += e;',
    '  }',
    '  float sum = mcpc_block_sum<float>(lsum, red);',
    '  if (sum == 0.0f) sum = 1.0f;',
    '  const float norm = anyLive != 0.0f ? 1.0f / sum : 0.0f;',
    `  for (int e = threadIdx.x; e < ${Dv}; e += ${threads}) {`,
    '    float acc = 0.0f;',
    `    for (int j = 0; j < ${T}; j++) acc += sc[j] * ${fromStorage(V.dtype, `${v}[${vOff('j', 'e')}]`)};`,
    `    ${store(out.dtype, y, yOff('e'), 'acc * norm')}`,
    '  }',
    '  __syncthreads();',
    '}',
  ];
  const entry = ctx.module.addKernel(ctx.entry(), params.declaration, indent(lines, 2).join('\n') + '\n');
  return [{ entry, ...blockPerRow(rows, threads), args: params.slots }];
}
