// AVX-512 plane of a 2-D MaxPool with dilation 1 (pool.cc's separable path, f32): per output row
// the max over the window's valid input rows goes into a row buffer bordered with -infinity, then
// each 16 outputs take the max over the kernel's columns (stride 2: the even lanes of two loads).
// (The full-mask forms of max: GCC 12 flags the plain ones' undefined pass-through operand.)
#include <immintrin.h>

#include <cstdint>
#include <limits>

namespace mcpc {
namespace {
constexpr int kVW = 16;
}  // namespace

/** Floats of the row buffer MaxPool2DPlaneAvx512 needs. */
int64_t MaxPoolRowBuffer(int64_t iw, int64_t ow, int kw, int sw, int64_t pw) {
  return pw + iw + (ow + kVW - 1) / kVW * kVW * sw + kw + 2 * kVW;
}

/**
 * One plane: x is ih x iw (rows outside are never read), y is oh x ow; rowLo/rowHi give each
 * output row's valid kernel rows. buf holds MaxPoolRowBuffer floats; its borders are set here.
 */
void MaxPool2DPlaneAvx512(const float* x, int64_t iw, float* y, int64_t oh, int64_t ow, int kw, int sh, int sw, int64_t ph, int64_t pw,
                          const int32_t* rowLo, const int32_t* rowHi, float* buf) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const __m512 vninf = _mm512_set1_ps(ninf);
  const int64_t len = MaxPoolRowBuffer(iw, ow, kw, sw, pw);
  for (int64_t i = 0; i < len; ++i) buf[i] = ninf;
  float* t = buf + pw;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(sw));
  const __mmask16 tail = static_cast<__mmask16>(ow % kVW ? (1u << (ow % kVW)) - 1 : 0xFFFF);
  const __mmask16 rowTail = static_cast<__mmask16>(iw % kVW ? (1u << (iw % kVW)) - 1 : 0xFFFF);
  for (int64_t o = 0; o < oh; ++o) {
    float* yr = y + o * ow;
    const int64_t h0 = rowLo[o], h1 = rowHi[o];
    if (h0 >= h1) {
      for (int64_t j = 0; j < ow; ++j) yr[j] = ninf;
      continue;
    }
    const float* r0 = x + (o * sh - ph + h0) * iw;
    for (int64_t i = 0; i < iw; i += kVW) {
      const __mmask16 m = i + kVW <= iw ? static_cast<__mmask16>(0xFFFF) : rowTail;
      __m512 v = _mm512_maskz_loadu_ps(m, r0 + i);
      for (int64_t kh = h0 + 1; kh < h1; ++kh) v = _mm512_mask_max_ps(v, 0xFFFF, v, _mm512_maskz_loadu_ps(m, r0 + (kh - h0) * iw + i));
      _mm512_mask_storeu_ps(t + i, m, v);
    }
    for (int64_t j = 0; j < ow; j += kVW) {
      const float* c = buf + j * sw;  // output j's window starts at column j * sw - pw
      __m512 best = vninf;
      for (int k = 0; k < kw; ++k) {
        __m512 v;
        if (sw == 1) v = _mm512_loadu_ps(c + k);
        else if (sw == 2) v = _mm512_permutex2var_ps(_mm512_loadu_ps(c + k), even, _mm512_loadu_ps(c + k + kVW));
        else v = _mm512_mask_i32gather_ps(vninf, 0xFFFF, idx, c + k, 4);
        best = _mm512_mask_max_ps(best, 0xFFFF, best, v);
      }
      _mm512_mask_storeu_ps(yr + j, j + kVW <= ow ? static_cast<__mmask16>(0xFFFF) : tail, best);
    }
  }
}

}  // namespace mcpc
