// Depthwise 2-D convolution, one channel plane at a time (NCHW), AVX-512: the plane is copied into
// a zero-bordered scratch plane so that every tap is a plain (unmasked) load, and each output row
// is computed 16 columns per vector with all kh x kw taps accumulated in a register. Stride 2 takes
// the even lanes of two loads (one permute). Called from conv.cc's depthwise path (DwPlaneArgs).
#include <immintrin.h>

#include "conv_depthwise.h"

namespace mcpc {
namespace dw {
namespace {

constexpr int kVW = 16;

template <int KH, int KW, int S>
void Rows(const DwPlaneArgs& a, const float* xp, float* y) {
  const int kh = KH > 0 ? KH : a.kh, kw = KW > 0 ? KW : a.kw;
  const int s = S > 0 ? S : a.sw;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  __m512 wv[KH > 0 && KW > 0 ? KH * KW : 1];
  if constexpr (KH > 0 && KW > 0) {
    for (int t = 0; t < KH * KW; ++t) wv[t] = _mm512_set1_ps(a.w[t]);
  }
  const __m512 bias = _mm512_set1_ps(a.bias);
  const int64_t ow = a.ow;
  const __mmask16 tailMask = static_cast<__mmask16>((1u << (ow % kVW)) - 1);
  for (int64_t oh = 0; oh < a.oh; ++oh) {
    const float* xr0 = xp + oh * a.sh * a.wp;
    float* yr = y + oh * ow;
    for (int64_t o = 0; o < ow; o += kVW) {
      __m512 acc = bias;
      const float* xb = xr0 + o * s;
      for (int i = 0; i < kh; ++i) {
        const float* xr = xb + i * a.wp;
#pragma GCC unroll 7
        for (int j = 0; j < kw; ++j) {
          const __m512 w = (KH > 0 && KW > 0) ? wv[i * kw + j] : _mm512_set1_ps(a.w[i * kw + j]);
          __m512 v;
          if (s == 1) {
            v = _mm512_loadu_ps(xr + j);
          } else if (s == 2) {
            v = _mm512_permutex2var_ps(_mm512_loadu_ps(xr + j), even, _mm512_loadu_ps(xr + j + kVW));
          } else {
            const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(s));
            v = _mm512_i32gather_ps(idx, xr + j, 4);
          }
          acc = _mm512_fmadd_ps(w, v, acc);
        }
      }
      if (o + kVW <= ow) _mm512_storeu_ps(yr + o, acc);
      else _mm512_mask_storeu_ps(yr + o, tailMask, acc);
    }
  }
}

}  // namespace

void PlaneAvx512(const DwPlaneArgs& a, const float* xp, float* y) {
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
