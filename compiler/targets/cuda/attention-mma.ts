// The tensor-core Attention kernel (flash-attention style) for f16/bf16 operands with head sizes
// D, Dv multiples of 16 up to 128. A block of W warps takes 16*W query rows of one (batch, head);
// each warp owns 16 rows and keeps them in registers: Q as mma A fragments, the running row max m
// and sum l, and the output accumulator O (16 x Dv, fp32). The block walks the keys in tiles of
// KT = 64: it stages K and V [KT x D] in shared memory (rows padded by 8 halves, so the fragment
// reads below hit 32 distinct banks), then each warp computes S = Q K^T (mma.m16n8k16, fp32
// accumulation), scales, soft-caps and biases it in fp32 (mask, causal, window; keys past T get
// -inf), updates m, rescales l and O by exp(m_old - m_new), turns exp(S - m) into A fragments of P
// directly from the accumulator registers (the C layout of two n-tiles is the A layout of one
// k-tile) and adds P V (mma, V tile as B). Row maxima and sums are reduced over the four lanes
// that share a row with shuffles. Y = O / l, or zeros when every key of the row is masked (l = 0),
// as in the reference. With is_causal, key tiles after the block's last row are skipped.
//
// The mma and packing helpers are in the prelude (native/cuda/mcpc_prelude.cuh, emulated by
// test/cuda/emulator/mcpc_prelude.cuh). Probabilities enter P V rounded to the operand type.

import type { CudaLaunch } from '../../artifact/format.js';
import type { KernelContext } from './context.js';
import { biasLines, operandOffsets, type AttentionShape } from './attention-shape.js';
import { floatLiteral, indent, intLit, KernelParams } from './source.js';

/** Keys per shared-memory tile. */
const KT = 64;
/**
 * Blocks wanted for a launch: two per SM of a 132-SM H200. Fewer warps per block (and so more
 * blocks) are used until a launch has that many, since a small batch otherwise leaves SMs idle.
 */
const TARGET_BLOCKS = 264;

/** Why the tensor-core kernel does not cover `a`, or undefined when it does. */
export function mmaRefusal(a: AttentionShape): string | undefined {
  const dt = a.Q.dtype;
  if (dt !== 'f16' && dt !== 'bf16') return `${dt} operands`;
  if (a.K.dtype !== dt || a.V.dtype !== dt || a.out.dtype !== dt) return 'mixed operand dtypes';
  if (a.D % 16 || a.D > 128 || a.Dv % 16 || a.Dv > 128) return `head sizes ${a.D}/${a.Dv} (multiples of 16 up to 128 only)`;
  if (a.Hq % a.Hkv) return 'query heads not a multiple of kv heads';
  return undefined;
}

export function generateAttentionMma(ctx: KernelContext, a: AttentionShape): CudaLaunch[] {
  const { Q, K, V, mask, out, B, Hq, Hkv, Sq, T, D, Dv, scale, softcap, causal, it } = a;
  const L = intLit;
  const tiles = (w: number) => Math.ceil(Sq / (16 * w)) * Hq * B;
  const warps = [4, 2, 1].find((w) => tiles(w) >= TARGET_BLOCKS) ?? 1;
  const BM = 16 * warps;
  const threads = 32 * warps;
  const KS = D + 8; // halves per staged K row
  const VS = Dv + 8; // halves per staged V row
  const ty = Q.dtype === 'bf16' ? 'bf16' : 'f16';

  const params = new KernelParams();
  const q = params.read(Q.id, Q.dtype);
  const k = params.read(K.id, K.dtype);
  const v = params.read(V.id, V.dtype);
  const m = mask ? params.read(mask.id, mask.dtype) : undefined;
  const y = params.write(out.id, out.dtype);
  const off = operandOffsets(a);
  const ninf = `-${floatLiteral(Infinity)}`;
  const LOG2E = floatLiteral(Math.LOG2E);
  const bias = biasLines(a, m);
  const tEnd = causal ? `(blockIdx.x + 1) * ${BM} < ${L(T)} ? (blockIdx.x + 1) * ${BM} : ${L(T)}` : L(T);

  // Stages rows [j0, j0 + KT) of a [T x W] operand into `dst` (rows of W + 8 halves), 16 bytes a
  // thread at a time; rows past T are zeros (a NaN there would survive p = 0). A thread issues up
  // to 8 loads before it stores any: staged one by one, a lone warp per block (small batches) waits
  // out a memory round trip per vector.
  const stage = (dst: string, src: string, W: string | number, width: number, offset: (row: string, col: string) => string) => {
    const total = (KT * width) / 8;
    const chunk = [8, 4, 2, 1].find((c) => (total / threads) % c === 0)!;
    const at = ['const int e = e0 + u * ' + threads + ';', `const int r = e / ${width / 8}, c = e % ${width / 8};`];
    return [
      '#pragma unroll',
      `for (int e0 = threadIdx.x; e0 < ${total}; e0 += ${threads * chunk}) {`,
      `  uint4 x[${chunk}];`,
      '  #pragma unroll',
      `  for (int u = 0; u < ${chunk}; u++) {`,
      ...indent(at, 4),
      '    x[u] = {0u, 0u, 0u, 0u};',
      `    if (j0 + r < ${L(T)}) x[u] = *(const uint4*)(${src} + ${offset('j0 + r', 'c * 8')});`,
      '  }',
      '  #pragma unroll',
      `  for (int u = 0; u < ${chunk}; u++) {`,
      ...indent(at, 4),
      `    ${dst}[r * ${Number(W) / 8} + c] = x[u];`,
      '  }',
      '}',
    ];
  };
  const lines = [
    `__shared__ uint4 ks4[${(KT * KS) / 8}];`,
    `__shared__ uint4 vs4[${(KT * VS) / 8}];`,
    'const mcpc_u32* ks = (const mcpc_u32*)ks4;',
    'const mcpc_u16* vs = (const mcpc_u16*)vs4;',
    'const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;',
    'const int b = blockIdx.z, h = blockIdx.y;',
    `const int kvh = h / ${Hq / Hkv};`,
    `const int r0 = blockIdx.x * ${BM} + warp * 16 + g;  // this lane's rows: r0 and r0 + 8`,
    `mcpc_u32 qa[${D / 16}][4];`,
    '#pragma unroll',
    `for (int kk = 0; kk < ${D / 16}; kk++) {`,
    '  #pragma unroll',
    '  for (int r = 0; r < 4; r++) {',
    '    const int i = r0 + (r & 1) * 8;',
    `    qa[kk][r] = i < ${L(Sq)} ? *(const mcpc_u32*)(${q} + ${off.q('h', 'i', 'kk * 16 + 2 * t + (r >> 1) * 8')}) : 0u;`,
    '  }',
    '}',
    `float o[${Dv / 8}][4];`,
    '#pragma unroll',
    `for (int n = 0; n < ${Dv / 8}; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;`,
    `float mrow[2] = {${ninf}, ${ninf}}, lrow[2] = {0.0f, 0.0f};`,
    `const int tEnd = ${tEnd};`,
    `for (int j0 = 0; j0 < tEnd; j0 += ${KT}) {`,
    '  __syncthreads();  // the previous tile is no longer read',
    ...indent(stage('ks4', k, KS, D, (row, col) => off.k('kvh', row, col)), 2),
    ...indent(stage('vs4', v, VS, Dv, (row, col) => off.v('kvh', row, col)), 2),
    '  __syncthreads();',
    `  float s[${KT / 8}][4];`,
    '  #pragma unroll',
    `  for (int n = 0; n < ${KT / 8}; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;`,
    '  #pragma unroll',
    `  for (int kk = 0; kk < ${D / 16}; kk++) {`,
    '    #pragma unroll',
    `    for (int n = 0; n < ${KT / 8}; n++) {`,
    `      const mcpc_u32* kr = ks + ((n * 8 + g) * ${KS} + kk * 16 + 2 * t) / 2;`,
    `      mcpc_mma_m16n8k16_${ty}(s[n], qa[kk], kr[0], kr[4]);`,
    '    }',
    '  }',
    `  float mx[2] = {${ninf}, ${ninf}};`,
    '  #pragma unroll',
    `  for (int n = 0; n < ${KT / 8}; n++) {`,
    '    #pragma unroll',
    '    for (int c = 0; c < 4; c++) {',
    '      const int jj = j0 + n * 8 + 2 * t + (c & 1);',
    `      float x = s[n][c] * ${floatLiteral(scale)};`,
    ...(softcap > 0 ? [`      x = tanhf(x / ${floatLiteral(softcap)}) * ${floatLiteral(softcap)};`] : []),
    ...(bias.length
      ? [
          '      {',
          // Rows past Sq and keys past T read the mask at the last row/key (their result is unused or -inf).
          `        const int i = r0 + (c >> 1) * 8 < ${L(Sq)} ? r0 + (c >> 1) * 8 : ${L(Sq - 1)};`,
          `        const int j = jj < ${L(T)} ? jj : ${L(T - 1)};`,
          ...indent(bias, 8),
          '        x += bias;',
          '      }',
        ]
      : []),
    `      if (jj >= ${L(T)}) x = ${ninf};`,
    '      s[n][c] = x;',
    '      mx[c >> 1] = fmaxf(mx[c >> 1], x);',
    '    }',
    '  }',
    '  float alpha[2], shift[2], sum[2] = {0.0f, 0.0f};',
    '  #pragma unroll',
    '  for (int r = 0; r < 2; r++) {',
    '    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));',
    '    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));',
    '    const float mnew = fmaxf(mrow[r], mx[r]);',
    `    const float base = mnew == ${ninf} ? 0.0f : mnew;  // all keys so far masked: p = 0, not NaN`,
    `    alpha[r] = exp2f((mrow[r] - base) * ${LOG2E});`,
    `    shift[r] = base * ${LOG2E};`,
    '    mrow[r] = mnew;',
    '  }',
    '  #pragma unroll',
    `  for (int n = 0; n < ${KT / 8}; n++) {`,
    '    #pragma unroll',
    '    for (int c = 0; c < 4; c++) {',
    `      const float p = exp2f(s[n][c] * ${LOG2E} - shift[c >> 1]);`,
    '      s[n][c] = p;',
    '      sum[c >> 1] += p;',
    '    }',
    '  }',
    '  lrow[0] = lrow[0] * alpha[0] + sum[0];',
    '  lrow[1] = lrow[1] * alpha[1] + sum[1];',
    '  #pragma unroll',
    `  for (int n = 0; n < ${Dv / 8}; n++) {`,
    '    o[n][0] *= alpha[0]; o[n][1] *= alpha[0]; o[n][2] *= alpha[1]; o[n][3] *= alpha[1];',
    '  }',
    '  #pragma unroll',
    `  for (int kk = 0; kk < ${KT / 16}; kk++) {`,
    '    mcpc_u32 pa[4];',
    `    pa[0] = mcpc_pack_${ty}x2(s[2 * kk][0], s[2 * kk][1]);`,
    `    pa[1] = mcpc_pack_${ty}x2(s[2 * kk][2], s[2 * kk][3]);`,
    `    pa[2] = mcpc_pack_${ty}x2(s[2 * kk + 1][0], s[2 * kk + 1][1]);`,
    `    pa[3] = mcpc_pack_${ty}x2(s[2 * kk + 1][2], s[2 * kk + 1][3]);`,
    '    #pragma unroll',
    `    for (int n = 0; n < ${Dv / 8}; n++) {`,
    `      const mcpc_u16* vc = vs + (kk * 16 + 2 * t) * ${VS} + n * 8 + g;`,
    `      const mcpc_u32 b0 = (mcpc_u32)vc[0] | ((mcpc_u32)vc[${VS}] << 16);`,
    `      const mcpc_u32 b1 = (mcpc_u32)vc[${8 * VS}] | ((mcpc_u32)vc[${9 * VS}] << 16);`,
    `      mcpc_mma_m16n8k16_${ty}(o[n], pa, b0, b1);`,
    '    }',
    '  }',
    '}',
    '#pragma unroll',
    'for (int r = 0; r < 2; r++) {',
    '  lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 1);',
    '  lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 2);',
    '  const int i = r0 + r * 8;',
    '  const float inv = lrow[r] == 0.0f ? 0.0f : 1.0f / lrow[r];  // every key masked: zeros',
    `  if (i < ${L(Sq)}) {`,
    '    #pragma unroll',
    `    for (int n = 0; n < ${Dv / 8}; n++) {`,
    `      *(mcpc_u32*)(${y} + ${off.y('h', 'i', 'n * 8 + 2 * t')}) = mcpc_pack_${ty}x2(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);`,
    '    }',
    '  }',
    '}',
  ];
  void it;
  const entry = ctx.module.addKernel(ctx.entry('AttentionMma'), params.declaration, indent(lines, 2).join('\n') + '\n');
  return [{ entry, grid: [Math.ceil(Sq / BM), Hq, B], block: [threads, 1, 1], sharedBytes: 0, args: params.slots }];
}
