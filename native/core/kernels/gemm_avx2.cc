// AVX2/FMA GEMM micro-kernels: 6 rows x 16 columns (12 ymm accumulators, 2 B loads and 6 broadcasts
// per k step), with narrower instantiations for edge tiles; the last vector of a row is masked.
#include <immintrin.h>

#include "gemm.h"

namespace mcpc {
namespace gemm {
namespace {

constexpr int kMR = 6;
constexpr int kVW = 8;

inline __m256i TailMask(int valid) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), idx);
}

template <int M, int NV>
void Tile(int64_t kc, const float* a, const float* b, int64_t bw, float* c, int64_t ldc, int n, bool accumulate,
          const TileEpilogue* ep) {
  __m256 acc[M][NV];
#pragma GCC unroll 6
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm256_setzero_ps();
  }
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    __m256 bv[NV];
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) bv[j] = _mm256_load_ps(b + j * kVW);
#pragma GCC unroll 6
    for (int i = 0; i < M; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 2
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
    }
    a += kMR;
    b += bw;
  }
  const int tail = n - (NV - 1) * kVW;
  const __m256i tailMask = TailMask(tail);
  const __m256i full = _mm256_set1_epi32(-1);
#pragma GCC unroll 6
  for (int i = 0; i < M; ++i) {
    float* crow = c + i * ldc;
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) {
      const __m256i mask = j == NV - 1 ? tailMask : full;
      __m256 v = acc[i][j];
      if (accumulate) v = _mm256_add_ps(v, _mm256_maskload_ps(crow + j * kVW, mask));
      if (ep) {
        if (ep->bias) {
          v = _mm256_add_ps(v, ep->biasPerRow ? _mm256_set1_ps(ep->bias[i]) : _mm256_maskload_ps(ep->bias + j * kVW, mask));
        }
        if (ep->residual) v = _mm256_add_ps(v, _mm256_maskload_ps(ep->residual + i * ep->ldResidual + j * kVW, mask));
        if (ep->act == Epilogue::Act::Relu) {
          v = _mm256_max_ps(v, _mm256_setzero_ps());
        } else if (ep->act == Epilogue::Act::Clip) {
          v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(ep->clipMin)), _mm256_set1_ps(ep->clipMax));
        }
      }
      _mm256_maskstore_ps(crow + j * kVW, mask, v);
    }
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, int64_t, float*, int64_t, int, bool, const TileEpilogue*);

constexpr TileFn kTiles[kMR][2] = {
    {&Tile<1, 1>, &Tile<1, 2>}, {&Tile<2, 1>, &Tile<2, 2>}, {&Tile<3, 1>, &Tile<3, 2>},
    {&Tile<4, 1>, &Tile<4, 2>}, {&Tile<5, 1>, &Tile<5, 2>}, {&Tile<6, 1>, &Tile<6, 2>},
};

void Kernel(int64_t kc, const float* a, const float* b, int64_t bw, float* c, int64_t ldc, int m, int n, bool accumulate,
            const TileEpilogue* ep) {
  kTiles[m - 1][(n + kVW - 1) / kVW - 1](kc, a, b, bw, c, ldc, n, accumulate, ep);
}

}  // namespace

const Arch* Avx2Arch() {
  static const Arch arch{"avx2", kMR, 2 * kVW, kVW, 256, &Kernel};
  return &arch;
}

}  // namespace gemm
}  // namespace mcpc
