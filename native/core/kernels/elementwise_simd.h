// f32 vector loops and vector math (exp, tanh, erf, sigmoid, gelu) written once over a vector
// type V; elementwise_avx2.cc and elementwise_avx512.cc each include this inside their own
// namespace with their V, so every instantiation is compiled with that file's ISA flags.
// Accuracy (checked by native/tests/elementwise): exp, sigmoid, tanh, erf, gelu within 1e-6 relative;
// erf-form gelu is only 1e-6 absolute for x < -3, where 1 + erf(x/sqrt2) cancels.
// Tails run the same vector code on a padded stack copy, so results never depend on position.
//
// V provides: T, W, load, store, set, add, sub, mul, div, fma(a,b,c)=a*b+c, min, max (with the x86
// rule that the second operand is returned when either is NaN), round, floor, pow2i (2^n for
// integral n in [-126,127]), abs, sqrt, copysign(mag, sign), lt_select(a,b,t,f) = a<b ? t : f,
// fix_nan(r, x) = isnan(x) ? x : r.

// ---- math ----

static inline V::T VExp(V::T x0) {
  V::T x = V::max(V::set(-104.0f), V::min(V::set(88.8f), x0));
  V::T n = V::round(V::mul(x, V::set(1.44269504088896341f)));
  V::T r = V::fma(n, V::set(-0.693359375f), x);
  r = V::fma(n, V::set(2.12194440e-4f), r);
  V::T p = V::set(1.9875691500e-4f);
  p = V::fma(p, r, V::set(1.3981999507e-3f));
  p = V::fma(p, r, V::set(8.3334519073e-3f));
  p = V::fma(p, r, V::set(4.1665795894e-2f));
  p = V::fma(p, r, V::set(1.6666665459e-1f));
  p = V::fma(p, r, V::set(5.0000001201e-1f));
  p = V::fma(p, V::mul(r, r), V::add(r, V::set(1.0f)));
  // 2^n in two factors so that n in [-150, 128] reaches subnormals and infinity.
  V::T n1 = V::floor(V::mul(n, V::set(0.5f)));
  V::T n2 = V::sub(n, n1);
  V::T y = V::mul(V::mul(p, V::pow2i(n1)), V::pow2i(n2));
  return V::fix_nan(y, x0);
}

static inline V::T VSigmoid(V::T x) {
  V::T e = VExp(V::sub(V::set(0.0f), x));
  return V::div(V::set(1.0f), V::add(V::set(1.0f), e));
}

static inline V::T VTanh(V::T x) {
  V::T ax = V::abs(x);
  V::T z = V::mul(x, x);
  V::T p = V::set(-5.70498872745e-3f);
  p = V::fma(p, z, V::set(2.06390887954e-2f));
  p = V::fma(p, z, V::set(-5.37397155531e-2f));
  p = V::fma(p, z, V::set(1.33314422036e-1f));
  p = V::fma(p, z, V::set(-3.33332819422e-1f));
  V::T small = V::fma(V::mul(p, z), x, x);
  V::T e = VExp(V::add(ax, ax));
  V::T big = V::sub(V::set(1.0f), V::div(V::set(2.0f), V::add(e, V::set(1.0f))));
  big = V::copysign(big, x);
  return V::fix_nan(V::lt_select(ax, V::set(0.625f), small, big), x);
}

/** erf as a rational function x P(x^2) / Q(x^2) on [-4, 4] (erf is +-1 in f32 beyond). */
static inline V::T VErf(V::T x0) {
  V::T x = V::max(V::set(-4.0f), V::min(V::set(4.0f), x0));
  V::T x2 = V::mul(x, x);
  V::T p = V::set(-2.72614225801306e-10f);
  p = V::fma(p, x2, V::set(2.77068142495902e-08f));
  p = V::fma(p, x2, V::set(-2.10102402082508e-06f));
  p = V::fma(p, x2, V::set(-5.69250639462346e-05f));
  p = V::fma(p, x2, V::set(-7.34990630326855e-04f));
  p = V::fma(p, x2, V::set(-2.95459980854025e-03f));
  p = V::fma(p, x2, V::set(-1.60960333262415e-02f));
  p = V::mul(p, x);
  V::T q = V::set(-1.45660718464996e-05f);
  q = V::fma(q, x2, V::set(-2.13374055278905e-04f));
  q = V::fma(q, x2, V::set(-1.68282697438203e-03f));
  q = V::fma(q, x2, V::set(-7.37332916720468e-03f));
  q = V::fma(q, x2, V::set(-1.42647390514189e-02f));
  V::T r = V::div(p, q);
  return V::max(V::set(-1.0f), V::min(V::set(1.0f), r));
}

static inline V::T VApply(mcpc::ew::simd::UnOp op, V::T x, float p0, float p1) {
  using mcpc::ew::simd::UnOp;
  switch (op) {
    case UnOp::Relu: return V::max(x, V::set(0.0f));  // NaN -> 0, as x > 0 ? x : 0
    case UnOp::LeakyRelu: return V::lt_select(x, V::set(0.0f), V::mul(x, V::set(p0)), x);
    case UnOp::Exp: return VExp(x);
    case UnOp::Sigmoid: return VSigmoid(x);
    case UnOp::Tanh: return VTanh(x);
    case UnOp::Erf: return VErf(x);
    case UnOp::GeluErf: {
      V::T e = VErf(V::mul(x, V::set(0.70710678118654752f)));
      return V::mul(V::mul(V::set(0.5f), x), V::add(V::set(1.0f), e));
    }
    case UnOp::GeluTanh: {
      // 0.5 (1 + tanh(u)) = sigmoid(2u): no cancellation for negative x.
      V::T x3 = V::mul(V::mul(x, x), x);
      V::T u = V::mul(V::set(2.0f * 0.79788456080286536f), V::fma(x3, V::set(0.044715f), x));
      return V::mul(x, VSigmoid(u));
    }
    case UnOp::Swish: return V::mul(x, VSigmoid(V::mul(x, V::set(p0))));
    case UnOp::Sqrt: return V::sqrt(x);
    case UnOp::Neg: return V::sub(V::set(0.0f), x);
    case UnOp::Abs: return V::abs(x);
    case UnOp::Reciprocal: return V::div(V::set(1.0f), x);
    case UnOp::Clip: return V::min(V::set(p1), V::max(V::set(p0), x));  // NaN propagates
    case UnOp::HardSigmoid: return V::max(V::set(0.0f), V::min(V::set(1.0f), V::fma(x, V::set(p0), V::set(p1))));
    case UnOp::HardSwish: {
      V::T h = V::max(V::set(0.0f), V::min(V::set(1.0f), V::fma(x, V::set(1.0f / 6.0f), V::set(0.5f))));
      return V::mul(x, h);
    }
  }
  return x;
}

template <mcpc::ew::simd::UnOp kOp>
static void UnaryLoop(const float* x, float* y, int64_t n, float p0, float p1) {
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) V::store(y + i, VApply(kOp, V::load(x + i), p0, p1));
  if (i < n) {
    alignas(64) float buf[V::W] = {};
    std::memcpy(buf, x + i, (n - i) * sizeof(float));
    V::store(buf, VApply(kOp, V::load(buf), p0, p1));
    std::memcpy(y + i, buf, (n - i) * sizeof(float));
  }
}

static void Unary(mcpc::ew::simd::UnOp op, const float* x, float* y, int64_t n, float p0, float p1) {
  using mcpc::ew::simd::UnOp;
  switch (op) {
#define MCPC_UNARY_CASE(name) case UnOp::name: UnaryLoop<UnOp::name>(x, y, n, p0, p1); break;
    MCPC_UNARY_CASE(Relu) MCPC_UNARY_CASE(LeakyRelu) MCPC_UNARY_CASE(Exp) MCPC_UNARY_CASE(Sigmoid)
    MCPC_UNARY_CASE(Tanh) MCPC_UNARY_CASE(Erf) MCPC_UNARY_CASE(GeluErf) MCPC_UNARY_CASE(GeluTanh)
    MCPC_UNARY_CASE(Swish) MCPC_UNARY_CASE(Sqrt) MCPC_UNARY_CASE(Neg) MCPC_UNARY_CASE(Abs)
    MCPC_UNARY_CASE(Reciprocal) MCPC_UNARY_CASE(Clip) MCPC_UNARY_CASE(HardSigmoid) MCPC_UNARY_CASE(HardSwish)
#undef MCPC_UNARY_CASE
  }
}

// ---- binary ----

template <mcpc::ew::simd::BinOp kOp> static inline V::T VBin(V::T a, V::T b) {
  using mcpc::ew::simd::BinOp;
  if constexpr (kOp == BinOp::Add) return V::add(a, b);
  else if constexpr (kOp == BinOp::Sub) return V::sub(a, b);
  else if constexpr (kOp == BinOp::Mul) return V::mul(a, b);
  else if constexpr (kOp == BinOp::Div) return V::div(a, b);
  else if constexpr (kOp == BinOp::Max) return V::fix_nan(V::max(a, b), a);
  else return V::fix_nan(V::min(a, b), a);
}

template <mcpc::ew::simd::BinOp kOp> static inline float SBin(float a, float b) {
  using mcpc::ew::simd::BinOp;
  if constexpr (kOp == BinOp::Add) return a + b;
  else if constexpr (kOp == BinOp::Sub) return a - b;
  else if constexpr (kOp == BinOp::Mul) return a * b;
  else if constexpr (kOp == BinOp::Div) return a / b;
  else if constexpr (kOp == BinOp::Max) return (a != a || b != b) ? a + b : (a > b ? a : b);
  else return (a != a || b != b) ? a + b : (a < b ? a : b);
}

template <mcpc::ew::simd::BinOp kOp>
static void BinaryLoop(const float* a, const float* b, float* out, int64_t n, int mode) {
  int64_t i = 0;
  if (mode == 0) {
    for (; i + 2 * V::W <= n; i += 2 * V::W) {
      V::store(out + i, VBin<kOp>(V::load(a + i), V::load(b + i)));
      V::store(out + i + V::W, VBin<kOp>(V::load(a + i + V::W), V::load(b + i + V::W)));
    }
    for (; i + V::W <= n; i += V::W) V::store(out + i, VBin<kOp>(V::load(a + i), V::load(b + i)));
    for (; i < n; ++i) out[i] = SBin<kOp>(a[i], b[i]);
  } else if (mode == 1) {
    V::T va = V::set(a[0]);
    for (; i + V::W <= n; i += V::W) V::store(out + i, VBin<kOp>(va, V::load(b + i)));
    for (; i < n; ++i) out[i] = SBin<kOp>(a[0], b[i]);
  } else {
    V::T vb = V::set(b[0]);
    for (; i + V::W <= n; i += V::W) V::store(out + i, VBin<kOp>(V::load(a + i), vb));
    for (; i < n; ++i) out[i] = SBin<kOp>(a[i], b[0]);
  }
}

static void Binary(mcpc::ew::simd::BinOp op, const float* a, const float* b, float* out, int64_t n, int mode) {
  using mcpc::ew::simd::BinOp;
  switch (op) {
    case BinOp::Add: BinaryLoop<BinOp::Add>(a, b, out, n, mode); break;
    case BinOp::Sub: BinaryLoop<BinOp::Sub>(a, b, out, n, mode); break;
    case BinOp::Mul: BinaryLoop<BinOp::Mul>(a, b, out, n, mode); break;
    case BinOp::Div: BinaryLoop<BinOp::Div>(a, b, out, n, mode); break;
    case BinOp::Max: BinaryLoop<BinOp::Max>(a, b, out, n, mode); break;
    case BinOp::Min: BinaryLoop<BinOp::Min>(a, b, out, n, mode); break;
  }
}
