// Depthwise 2-D convolution over a zero-bordered plane, AVX2 (8 columns per vector); see
// conv_depthwise_avx512.cc for the scheme. Stride 2 takes the even lanes of two loads.
#include <immintrin.h>

#include "conv_depthwise.h"

namespace mcpc {
namespace dw {
namespace {

constexpr int kVW = 8;

template <int KH, int KW, int S>
void Rows(const DwPlaneArgs& a, const float* xp, float* y) {
  const int kh = KH > 0 ? KH : a.kh, kw = KW > 0 ? KW : a.kw;
  const int s = S > 0 ? S : a.sw;
  __m256 wv[KH > 0 && KW > 0 ? KH * KW : 1];
  if constexpr (KH > 0 && KW > 0) {
    for (int t = 0; t < KH * KW; ++t) wv[t] = _mm256_set1_ps(a.w[t]);
  }
  const __m256 bias = _mm256_set1_ps(a.bias);
  const __m256 lower = _mm256_set1_ps(a.lo), upper = _mm256_set1_ps(a.hi);
  const int64_t ow = a.ow;
  const int tail = static_cast<int>(ow % kVW);
  const __m256i tailMask = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256i strideIdx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(s));
  for (int64_t oh = 0; oh < a.oh; ++oh) {
    const float* xr0 = xp + oh * a.sh * a.wp;
    float* yr = y + oh * ow;
    for (int64_t o = 0; o < ow; o += kVW) {
      __m256 acc = bias;
      const float* xb = xr0 + o * s;
      for (int i = 0; i < kh; ++i) {
        const float* xr = xb + i * a.wp;
#pragma GCC unroll 7
        for (int j = 0; j < kw; ++j) {
          const __m256 w = (KH > 0 && KW > 0) ? wv[i * kw + j] : _mm256_set1_ps(a.w[i * kw + j]);
          __m256 v;
          if (s == 1) {
            v = _mm256_loadu_ps(xr + j);
          } else if (s == 2) {
            const __m256 lo = _mm256_loadu_ps(xr + j), hi = _mm256_loadu_ps(xr + j + kVW);
            // [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6] -> [lo0 lo2 lo4 lo6 hi0 hi2 hi4 hi6]
            const __m256 sh = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
            v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(sh), _MM_SHUFFLE(3, 1, 2, 0)));
          } else {
            v = _mm256_i32gather_ps(xr + j, strideIdx, 4);
          }
          acc = _mm256_fmadd_ps(w, v, acc);
        }
      }
      // Bounds first: vmaxps/vminps return the second operand when one is NaN.
      acc = _mm256_min_ps(upper, _mm256_max_ps(lower, acc));
      if (o + kVW <= ow) _mm256_storeu_ps(yr + o, acc);
      else _mm256_maskstore_ps(yr + o, tailMask, acc);
    }
  }
}

}  // namespace

void PlaneAvx2(const DwPlaneArgs& a, const float* xp, float* y) {
  if (a.kh == 3 && a.kw == 3 && a.sw == 1) return Rows<3, 3, 1>(a, xp, y);
  if (a.kh == 3 && a.kw == 3 && a.sw == 2) return Rows<3, 3, 2>(a, xp, y);
  if (a.kh == 5 && a.kw == 5 && a.sw == 1) return Rows<5, 5, 1>(a, xp, y);
  if (a.kh == 5 && a.kw == 5 && a.sw == 2) return Rows<5, 5, 2>(a, xp, y);
  if (a.sw == 1) return Rows<0, 0, 1>(a, xp, y);
  if (a.sw == 2) return Rows<0, 0, 2>(a, xp, y);
  return Rows<0, 0, 0>(a, xp, y);
}

}  // namespace dw
}  // namespace mcpc
