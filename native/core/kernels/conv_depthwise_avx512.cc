// Depthwise 2-D convolution, one channel plane at a time (NCHW), AVX-512: the plane is copied into
// a zero-bordered scratch plane so that every tap is a plain (unmasked) load, and each output row
// is computed 16 columns per vector with all kh x kw taps accumulated in a register. Stride 2
// takes the even lanes of two loads (one permute). Called from conv.cc's depthwise path
// (DwPlaneArgs). (Reading the plane in place with masked loads at its borders, instead of the
// copy, measured 1.5-1.9x slower on the MobileNet-V2 planes.)
#include <immintrin.h>

#include <algorithm>

#include "conv_depthwise.h"

namespace mcpc {
namespace dw {
namespace {

constexpr int kVW = 16;

/**
 * The output vectors (row, 16 columns) of the plane in groups of J, each with its own
 * accumulator (a vector's kh x kw taps are a chain of dependent FMAs; J chains overlap them).
 */
template <int KH, int KW, int S, int J>
void Rows(const DwPlaneArgs& a, const float* xp, float* y) {
  const int kh = KH > 0 ? KH : a.kh, kw = KW > 0 ? KW : a.kw;
  const int s = S > 0 ? S : a.sw;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i gatherIdx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(s));
  __m512 wv[KH > 0 && KW > 0 ? KH * KW : 1];
  if constexpr (KH > 0 && KW > 0) {
    for (int t = 0; t < KH * KW; ++t) wv[t] = _mm512_set1_ps(a.w[t]);
  }
  const __m512 bias = _mm512_set1_ps(a.bias);
  const __m512 lower = _mm512_set1_ps(a.lo), upper = _mm512_set1_ps(a.hi);
  const int64_t ow = a.ow;
  const int64_t jobs = a.oh * ((ow + kVW - 1) / kVW);
  const __mmask16 tailMask = static_cast<__mmask16>(ow % kVW ? (1u << (ow % kVW)) - 1 : 0xFFFF);
  int64_t oh = 0, o = 0;  // the next vector
  for (int64_t j0 = 0; j0 < jobs; j0 += J) {
    const int nj = static_cast<int>(std::min<int64_t>(J, jobs - j0));
    const float* xb[J];
    float* yb[J];
    __mmask16 mask[J];
    __m512 acc[J];
#pragma GCC unroll 8
    for (int q = 0; q < J; ++q) {
      // A short last group repeats its last vector (computed, not stored).
      xb[q] = xp + oh * a.sh * a.wp + o * s;
      yb[q] = y + oh * ow + o;
      mask[q] = o + kVW <= ow ? static_cast<__mmask16>(0xFFFF) : tailMask;
      acc[q] = bias;
      if (q + 1 < nj) {
        o += kVW;
        if (o >= ow) o = 0, ++oh;
      }
    }
    o += kVW;
    if (o >= ow) o = 0, ++oh;
    for (int i = 0; i < kh; ++i) {
#pragma GCC unroll 7
      for (int j = 0; j < kw; ++j) {
        const __m512 w = (KH > 0 && KW > 0) ? wv[i * kw + j] : _mm512_set1_ps(a.w[i * kw + j]);
        const int64_t off = i * a.wp + j;
#pragma GCC unroll 8
        for (int q = 0; q < J; ++q) {
          const float* xr = xb[q] + off;
          __m512 v;
          if (s == 1) {
            v = _mm512_loadu_ps(xr);
          } else if (s == 2) {
            v = _mm512_permutex2var_ps(_mm512_loadu_ps(xr), even, _mm512_loadu_ps(xr + kVW));
          } else {
            v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF, gatherIdx, xr, 4);
          }
          acc[q] = _mm512_fmadd_ps(w, v, acc[q]);
        }
      }
    }
#pragma GCC unroll 8
    for (int q = 0; q < J; ++q) {
      if (q >= nj) break;
      // Bounds first: vmaxps/vminps return the second operand when one is NaN.
      const __m512 v = _mm512_mask_min_ps(acc[q], 0xFFFF, upper, _mm512_mask_max_ps(acc[q], 0xFFFF, lower, acc[q]));
      _mm512_mask_storeu_ps(yb[q], mask[q], v);
    }
  }
}

}  // namespace

void PlaneAvx512(const DwPlaneArgs& a, const float* xp, float* y) {
  // One vector at a time: groups of 8 (J = 8) ran 25% faster on hot data in conv_test's benchmark
  // but 10-20% slower inside MobileNet-V2, where the planes come from the previous layer.
  if (a.kh == 3 && a.kw == 3 && a.sw == 1) return Rows<3, 3, 1, 1>(a, xp, y);
  if (a.kh == 3 && a.kw == 3 && a.sw == 2) return Rows<3, 3, 2, 1>(a, xp, y);
  if (a.kh == 5 && a.kw == 5 && a.sw == 1) return Rows<5, 5, 1, 1>(a, xp, y);
  if (a.kh == 5 && a.kw == 5 && a.sw == 2) return Rows<5, 5, 2, 1>(a, xp, y);
  if (a.sw == 1) return Rows<0, 0, 1, 1>(a, xp, y);
  if (a.sw == 2) return Rows<0, 0, 2, 1>(a, xp, y);
  return Rows<0, 0, 0, 1>(a, xp, y);
}

}  // namespace dw
}  // namespace mcpc
