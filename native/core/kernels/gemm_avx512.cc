// AVX-512 GEMM micro-kernels: 8 rows x 48 columns (24 zmm accumulators, 3 B loads and 8 broadcasts
// per k step). Narrower tiles (fewer rows, 16 or 32 columns) are instantiations of the same
// template so that edge tiles waste no more than one partial vector; the last vector is masked.
#include <immintrin.h>

#include "gemm.h"

// GCC 12's _mm512_max_ps/_mm512_min_ps trip -Wmaybe-uninitialized (an undefined pass-through
// operand); the masked forms with a full mask compile to the same instruction.

namespace mcpc {
namespace gemm {
namespace {

constexpr int kMR = 8;
constexpr int kVW = 16;

template <int M, int NV>
void Tile(int64_t kc, const float* a, const float* b, int64_t bw, float* c, int64_t ldc, int n, bool accumulate,
          const TileEpilogue* ep) {
  // With an epilogue (the last K block), the rows of C and of the residual that the tile stores
  // are fetched while it multiplies: a convolution's output rows are a plane apart, too many
  // streams for the hardware prefetcher.
  if (ep) {
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
#pragma GCC unroll 3
      for (int j = 0; j < NV; ++j) {
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + j * kVW), _MM_HINT_T0);
        if (ep->residual) _mm_prefetch(reinterpret_cast<const char*>(ep->residual + i * ep->ldResidual + j * kVW), _MM_HINT_T0);
      }
    }
  }
  __m512 acc[M][NV];
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 3
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
  }
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 3
    for (int j = 0; j < NV; ++j) bv[j] = _mm512_load_ps(b + j * kVW);
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
      const __m512 av = _mm512_set1_ps(a[i]);
#pragma GCC unroll 3
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
    a += kMR;
    b += bw;
  }
  const int tail = n - (NV - 1) * kVW;
  const __mmask16 tailMask = static_cast<__mmask16>(tail >= 16 ? 0xFFFF : (1u << tail) - 1);
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
    float* crow = c + i * ldc;
#pragma GCC unroll 3
    for (int j = 0; j < NV; ++j) {
      const __mmask16 mask = j == NV - 1 ? tailMask : static_cast<__mmask16>(0xFFFF);
      __m512 v = acc[i][j];
      if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, crow + j * kVW));
      if (ep) {
        if (ep->bias) {
          v = _mm512_add_ps(v, ep->biasPerRow ? _mm512_set1_ps(ep->bias[i]) : _mm512_maskz_loadu_ps(mask, ep->bias + j * kVW));
        }
        if (ep->residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, ep->residual + i * ep->ldResidual + j * kVW));
        if (ep->act == Epilogue::Act::Relu) {
          v = _mm512_mask_max_ps(v, 0xFFFF, v, _mm512_setzero_ps());
        } else if (ep->act == Epilogue::Act::Clip) {
          v = _mm512_mask_max_ps(v, 0xFFFF, v, _mm512_set1_ps(ep->clipMin));
          v = _mm512_mask_min_ps(v, 0xFFFF, v, _mm512_set1_ps(ep->clipMax));
        }
      }
      _mm512_mask_storeu_ps(crow + j * kVW, mask, v);
    }
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, int64_t, float*, int64_t, int, bool, const TileEpilogue*);

constexpr TileFn kTiles[kMR][3] = {
    {&Tile<1, 1>, &Tile<1, 2>, &Tile<1, 3>}, {&Tile<2, 1>, &Tile<2, 2>, &Tile<2, 3>},
    {&Tile<3, 1>, &Tile<3, 2>, &Tile<3, 3>}, {&Tile<4, 1>, &Tile<4, 2>, &Tile<4, 3>},
    {&Tile<5, 1>, &Tile<5, 2>, &Tile<5, 3>}, {&Tile<6, 1>, &Tile<6, 2>, &Tile<6, 3>},
    {&Tile<7, 1>, &Tile<7, 2>, &Tile<7, 3>}, {&Tile<8, 1>, &Tile<8, 2>, &Tile<8, 3>},
};

void Kernel(int64_t kc, const float* a, const float* b, int64_t bw, float* c, int64_t ldc, int m, int n, bool accumulate,
            const TileEpilogue* ep) {
  kTiles[m - 1][(n + kVW - 1) / kVW - 1](kc, a, b, bw, c, ldc, n, accumulate, ep);
}

}  // namespace

const Arch* Avx512Arch() {
  static const Arch arch{"avx512", kMR, 3 * kVW, kVW, 256, &Kernel};
  return &arch;
}

}  // namespace gemm
}  // namespace mcpc
