// Attention (the fused op, compiler/ops/attention.ts): one block per query row (b, h, i). The
// block stages the query in shared memory, computes the row's T scores (one key per thread, a dot
// product over D), adds the mask and the causal/window constraints, takes a numerically stable
// softmax with block reductions, and writes Y[b, h, i, :] = sum_j p_j V[j, :] (one output column per
// thread). Grouped heads (Hq a multiple of Hkv) and 3-D packed inputs are handled by the offsets;
// KV cache inputs, nonpad_kv_seqlen and the extra outputs are not. A row whose keys are all
// masked gives zeros, as in the reference. T is limited by shared memory (scores are kept there).
// The fallback of the tensor-core kernel (attention-mma.ts): f32, odd head sizes, long heads.

import type { CudaLaunch } from '../../artifact/format.js';
import type { KernelContext } from './context.js';
import { generateAttentionMma, mmaRefusal } from './attention-mma.js';
import { attentionShape, biasLines, operandOffsets } from './attention-shape.js';
import { blockPerRow, fromStorage, indent, intLit, isFloatDtype, KernelParams, literal, MAX_SHARED_BYTES, pow2Block, store } from './source.js';

/** The tensor-core kernel when it covers the op (f16/bf16, head sizes multiples of 16 up to 128), else the row kernel. */
export function generateAttention(ctx: KernelContext): CudaLaunch[] {
  const a = attentionShape(ctx);
  if (!mmaRefusal(a)) return generateAttentionMma(ctx, a);
  const { Q, K, V, mask, out, B, Hq, Hkv, Sq, T, D, Dv, scale, softcap } = a;
  if (!isFloatDtype(Q.dtype) || Q.dtype === 'f64') throw ctx.refuse(`on ${Q.dtype}`);
  const group = Hq / Hkv;
  const threads = pow2Block(Math.max(T, Dv), 32, 128);
  const sharedBytes = 4 * (D + T + threads);
  if (sharedBytes > MAX_SHARED_BYTES) throw ctx.refuse(`over ${T} keys (the scores of a row must fit in shared memory)`);

  const params = new KernelParams();
  const q = params.read(Q.id, Q.dtype);
  const kp = params.read(K.id, K.dtype);
  const v = params.read(V.id, V.dtype);
  const m = mask ? params.read(mask.id, mask.dtype) : undefined;
  const y = params.write(out.id, out.dtype);
  const L = (x: number) => intLit(x);
  const off = operandOffsets(a);
  const qOff = (d: string) => off.q('h', 'i', d);
  const kOff = (j: string, d: string) => off.k('kvh', j, d);
  const vOff = (j: string, e: string) => off.v('kvh', j, e);
  const yOff = (e: string) => off.y('h', 'i', e);
  const ninf = `-${literal(Infinity, 'f32')}`;

  // The additive bias of key j: the mask (or -inf for false / beyond its last dim) and -inf for
  // each constraint the key breaks.
  const bias = biasLines(a, m);
  const constrained = bias.length > 0;

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
