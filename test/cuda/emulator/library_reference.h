// Reference loops of the library calls a cuda plan makes (cuBLASLt MatMul/Gemm and its epilogue,
// cuDNN Conv 2-D and conv-bias-activation) over host memory, accumulated in double. Shared by the
// emulator (emu_library.h, where device memory is host memory) and the GPU bundles
// (test/cuda/device/gpu_runtime.h, which copies device buffers to the host around them). Elements
// go through ld/st (dt: 0 f32, 1 f16, 2 bf16, 3 f64), which the including header defines in
// namespace mcpc_emu first.
#pragma once

#include <cmath>

namespace mcpc_emu {
namespace host {

/** Elements of numpy matmul's result for A dims `ad` and B dims `bd` (broadcast batch x M x N). */
inline long long matmul_count(int ar, const long long* ad, int br, const long long* bd) {
  const long long M = ar == 1 ? 1 : ad[ar - 2], N = br == 1 ? 1 : bd[br - 1];
  const int ba = ar > 2 ? ar - 2 : 0, bb = br > 2 ? br - 2 : 0, nb = ba > bb ? ba : bb;
  long long total = 1;
  for (int k = 0; k < nb; k++) {
    const int ka = k - (nb - ba), kb = k - (nb - bb);
    const long long da = ka >= 0 ? ad[ka] : 1, db = kb >= 0 ? bd[kb] : 1;
    total *= da > db ? da : db;
  }
  return total * M * N;
}

/**
 * numpy matmul: A [..., M, K] x B [..., K, N] with broadcast batch dims; a 1-D A is [1, K] (row
 * dropped from the result), a 1-D B is [K, 1].
 */
inline void matmul(const void* A, const void* B, void* Y, int dt, int ar, const long long* ad, int br, const long long* bd) {
  long long a2[8], b2[8];
  int ra = ar, rb = br;
  if (ar == 1) { a2[0] = 1; a2[1] = ad[0]; ra = 2; } else for (int k = 0; k < ar; k++) a2[k] = ad[k];
  if (br == 1) { b2[0] = bd[0]; b2[1] = 1; rb = 2; } else for (int k = 0; k < br; k++) b2[k] = bd[k];
  const long long M = a2[ra - 2], K = a2[ra - 1], N = b2[rb - 1];
  const int nb = (ra > rb ? ra : rb) - 2;
  long long batch[8], as[8], bs[8];
  long long aStride = M * K, bStride = K * N;
  // Batch strides (in matrices), 0 where an operand broadcasts.
  long long accA = 1, accB = 1;
  for (int k = nb - 1; k >= 0; k--) {
    const int ka = k - (nb - (ra - 2)), kb = k - (nb - (rb - 2));
    const long long da = ka >= 0 ? a2[ka] : 1, db = kb >= 0 ? b2[kb] : 1;
    batch[k] = da > db ? da : db;
    as[k] = da == 1 ? 0 : accA;
    bs[k] = db == 1 ? 0 : accB;
    accA *= da;
    accB *= db;
  }
  long long total = 1;
  for (int k = 0; k < nb; k++) total *= batch[k];
  for (long long p = 0; p < total; p++) {
    long long rem = p, ao = 0, bo = 0;
    for (int k = nb - 1; k >= 0; k--) {
      const long long c = rem % batch[k];
      rem /= batch[k];
      ao += c * as[k];
      bo += c * bs[k];
    }
    for (long long m = 0; m < M; m++)
      for (long long n = 0; n < N; n++) {
        double acc = 0;
        for (long long k = 0; k < K; k++) acc += ld(A, dt, ao * aStride + m * K + k) * ld(B, dt, bo * bStride + k * N + n);
        st(Y, dt, (p * M + m) * N + n, acc);
      }
  }
}

/** Y [M, N] = alpha * op(A) @ op(B); A is [M, K] ([K, M] with transA), B is [K, N] ([N, K] with transB). */
inline void gemm(const void* A, const void* B, void* Y, int dt, long long M, long long N, long long K, int transA, int transB, double alpha) {
  for (long long m = 0; m < M; m++)
    for (long long n = 0; n < N; n++) {
      double acc = 0;
      for (long long k = 0; k < K; k++) {
        const double a = ld(A, dt, transA ? k * M + m : m * K + k);
        const double b = ld(B, dt, transB ? n * K + k : k * N + n);
        acc += a * b;
      }
      st(Y, dt, m * N + n, alpha * acc);
    }
}

/**
 * Y [N, M, OH, OW] = conv(X [N, C, H, W], W [M, C/group, KH, KW]), no bias; with channelsLast
 * (NhwcConv) X is [N, H, W, C], W [M, KH, KW, C/group] and Y [N, OH, OW, M].
 */
inline void conv2d(const void* X, const void* Wt, void* Y, int dt, long long N, long long C, long long H, long long W, long long M,
                   long long KH, long long KW, long long OH, long long OW, int sh, int sw, int ph, int pw, int dh, int dw, int group,
                   int channelsLast = 0) {
  const long long Cg = C / group, Mg = M / group;
  auto xAt = [&](long long n, long long c, long long h, long long w) { return channelsLast ? ((n * H + h) * W + w) * C + c : ((n * C + c) * H + h) * W + w; };
  auto wAt = [&](long long m, long long c, long long h, long long w) { return channelsLast ? ((m * KH + h) * KW + w) * Cg + c : ((m * Cg + c) * KH + h) * KW + w; };
  auto yAt = [&](long long n, long long m, long long h, long long w) { return channelsLast ? ((n * OH + h) * OW + w) * M + m : ((n * M + m) * OH + h) * OW + w; };
  for (long long n = 0; n < N; n++)
    for (long long m = 0; m < M; m++) {
      const long long g = m / Mg;
      for (long long oh = 0; oh < OH; oh++)
        for (long long ow = 0; ow < OW; ow++) {
          double acc = 0;
          for (long long c = 0; c < Cg; c++)
            for (long long kh = 0; kh < KH; kh++) {
              const long long ih = oh * sh - ph + kh * dh;
              if (ih < 0 || ih >= H) continue;
              for (long long kw = 0; kw < KW; kw++) {
                const long long iw = ow * sw - pw + kw * dw;
                if (iw < 0 || iw >= W) continue;
                acc += ld(X, dt, xAt(n, g * Cg + c, ih, iw)) * ld(Wt, dt, wAt(m, c, kh, kw));
              }
            }
          st(Y, dt, yAt(n, m, oh, ow), acc);
        }
    }
}

/**
 * A LibraryEpilogue on Y [count / N, N]: Y = act(alpha * Y + beta * C + bias); the bias has one value
 * per column (biasCount N) or per batch of M rows and column; C and bias may be null;
 * act 0 none, 1 relu, 2 tanh-approximated gelu.
 */
inline void library_epilogue(void* Y, int dt, long long count, long long M, long long N, double alpha, const void* C, double beta, const void* bias,
                             long long biasCount, int act) {
  for (long long i = 0; i < count; i++) {
    double v = alpha * ld(Y, dt, i);
    if (C) v += beta * ld(C, dt, i);
    if (bias) v += ld(bias, dt, biasCount == N ? i % N : i / (M * N) * N + i % N);
    if (act == 1) v = v > 0 ? v : 0;
    if (act == 2) v = 0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    st(Y, dt, i, v);
  }
}

/**
 * cuDNN's conv-bias-activation epilogue, applied to Y after conv2d: Y = act(Y + B[m] + Z) over
 * `count` elements, m the channel (innermost with channelsLast, else (i / plane) % M); Z may be null.
 */
inline void bias_act(void* Y, const void* B, const void* Z, int dt, long long count, long long M, long long plane, int channelsLast, int relu) {
  for (long long i = 0; i < count; i++) {
    const long long m = channelsLast ? i % M : (i / plane) % M;
    double v = ld(Y, dt, i) + ld(B, dt, m) + (Z ? ld(Z, dt, i) : 0.0);
    if (relu && v < 0) v = 0;
    st(Y, dt, i, v);
  }
}

}  // namespace host
}  // namespace mcpc_emu
