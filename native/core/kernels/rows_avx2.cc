// AVX2/FMA row kernels: the same algorithms as rows_avx512.cc on 8 lanes (2^n built in the exponent
// bits), with scalar tails.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "rows.h"

namespace mcpc {
namespace rows {
namespace {

inline __m256 Exp(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.33654f));
  x = _mm256_min_ps(x, _mm256_set1_ps(88.37626f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.3888889e-3f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3333333e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1666667e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666667e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline float Sum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

inline float Max8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

void SoftmaxRow(const float* x, float* y, int64_t n, bool log) {
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float mx = Max8(vmax);
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  const __m256 vm = _mm256_set1_ps(mx);
  __m256 s0 = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = Exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    if (!log) _mm256_storeu_ps(y + i, e);
    s0 = _mm256_add_ps(s0, e);
  }
  float sum = Sum8(s0);
  for (; i < n; ++i) {
    const float e = std::exp(x[i] - mx);
    if (!log) y[i] = e;
    sum += e;
  }
  if (log) {
    const float lse = mx + std::log(sum);
    for (i = 0; i < n; ++i) y[i] = x[i] - lse;
    return;
  }
  const float inv = 1.0f / sum;
  const __m256 vi = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), vi));
  for (; i < n; ++i) y[i] *= inv;
}

void LayerNormRow(const float* x, float* y, int64_t n, const float* scale, const float* bias, float eps, float* mean, float* invStd) {
  __m256 s0 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
  float s = Sum8(s0);
  for (; i < n; ++i) s += x[i];
  const float m = s / static_cast<float>(n);
  const __m256 vm = _mm256_set1_ps(m);
  __m256 q0 = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
    q0 = _mm256_fmadd_ps(d, d, q0);
  }
  float q = Sum8(q0);
  for (; i < n; ++i) q += (x[i] - m) * (x[i] - m);
  const float inv = 1.0f / std::sqrt(q / static_cast<float>(n) + eps);
  const __m256 vi = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vi);
    v = bias ? _mm256_fmadd_ps(v, _mm256_loadu_ps(scale + i), _mm256_loadu_ps(bias + i)) : _mm256_mul_ps(v, _mm256_loadu_ps(scale + i));
    _mm256_storeu_ps(y + i, v);
  }
  for (; i < n; ++i) y[i] = (x[i] - m) * inv * scale[i] + (bias ? bias[i] : 0.0f);
  *mean = m;
  *invStd = inv;
}

}  // namespace

const RowKernels* Avx2() {
  static const RowKernels k{"avx2", &SoftmaxRow, &LayerNormRow};
  return &k;
}

}  // namespace rows
}  // namespace mcpc
