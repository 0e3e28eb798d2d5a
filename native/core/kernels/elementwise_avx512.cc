// AVX-512 instantiation of the f32 elementwise loops and vector math (elementwise_simd.h).
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c; chosen at run time.
// GCC 12 warns falsely about _mm512_undefined_ps inside the max/min intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "elementwise.h"

namespace mcpc {
namespace ew {
namespace avx512 {
namespace {

struct V {
  using T = __m512;
  static constexpr int W = 16;
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T set(float x) { return _mm512_set1_ps(x); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T div(T a, T b) { return _mm512_div_ps(a, b); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T min(T a, T b) { return _mm512_min_ps(a, b); }
  static T max(T a, T b) { return _mm512_max_ps(a, b); }
  static T round(T a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static T floor(T a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static T pow2i(T n) {
    __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(i, 23));
  }
  static T abs(T a) { return _mm512_abs_ps(a); }
  static T sqrt(T a) { return _mm512_sqrt_ps(a); }
  static T copysign(T mag, T sign) {
    const T m = _mm512_castsi512_ps(_mm512_set1_epi32(0x80000000));
    return _mm512_or_ps(_mm512_abs_ps(mag), _mm512_and_ps(sign, m));
  }
  static T lt_select(T a, T b, T t, T f) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), f, t); }
  static T fix_nan(T r, T x) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), r, x); }
};

#include "elementwise_simd.h"

const simd::F32Kernels kKernels = {"avx512", &Binary, &Unary};

}  // namespace
}  // namespace avx512

const simd::F32Kernels* simd::Avx512Kernels() { return &avx512::kKernels; }

}  // namespace ew
}  // namespace mcpc
