// AVX2+FMA instantiation of the f32 elementwise loops and vector math (elementwise_simd.h).
// Compiled with -mavx2 -mfma -mf16c; only called after __builtin_cpu_supports says so.
#include <immintrin.h>

#include <cstring>

#include "elementwise.h"

namespace mcpc {
namespace ew {
namespace avx2 {
namespace {

struct V {
  using T = __m256;
  static constexpr int W = 8;
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T set(float x) { return _mm256_set1_ps(x); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T div(T a, T b) { return _mm256_div_ps(a, b); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
  static T round(T a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static T floor(T a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static T pow2i(T n) {
    __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(i, 23));
  }
  static T abs(T a) { return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
  static T sqrt(T a) { return _mm256_sqrt_ps(a); }
  static T copysign(T mag, T sign) {
    const T m = _mm256_castsi256_ps(_mm256_set1_epi32(0x80000000));
    return _mm256_or_ps(abs(mag), _mm256_and_ps(sign, m));
  }
  static T lt_select(T a, T b, T t, T f) { return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
  static T fix_nan(T r, T x) { return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q)); }
};

#include "elementwise_simd.h"

const simd::F32Kernels kKernels = {"avx2", &Binary, &Unary};

}  // namespace
}  // namespace avx2

const simd::F32Kernels* simd::Avx2Kernels() { return &avx2::kKernels; }

}  // namespace ew
}  // namespace mcpc
