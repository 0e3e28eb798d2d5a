// Unary elementwise ops: math functions, rounding, predicates, negations and activations, plus Clip.
// f32 runs the vector kernels where one exists (Relu, Exp, Sigmoid, Tanh, Erf, Gelu, ...); every
// other float case computes in float64 and rounds once to the output type, as the compiler's
// reference (compiler/ops/elementwise-math.ts) does. Integer forms exist where ONNX allows them.
#include <algorithm>

#include "elementwise.h"

namespace mcpc {
namespace ew {
namespace {

struct Params {
  double a = 0, b = 0;
  bool p = true, n = true;
};
using DFn = double (*)(double, const Params&);

/** How integer (and bool) inputs are computed. */
enum class IntForm { None, Relu, Abs, Neg, Sign, ViaDouble, BitNot, Not };

struct UnaryDef {
  uint32_t types;
  int simd;  // simd::UnOp, or -1
  DFn f;
  IntForm intForm;
  bool boolOut;
};

double Erf(double x) { return std::erf(x); }
double Sigmoid(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }
double Softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }
double RoundHalfEven(double x) { return std::nearbyint(x); }

template <class T, class C> T IntApply(IntForm form, T x, DFn f, const Params& p) {
  using U = typename std::make_unsigned<T>::type;
  switch (form) {
    case IntForm::Relu: return x > 0 ? x : T(0);
    case IntForm::Abs:
      if constexpr (std::is_signed<T>::value) return x < 0 ? static_cast<T>(U(0) - static_cast<U>(x)) : x;
      else return x;
    case IntForm::Neg: return static_cast<T>(U(0) - static_cast<U>(x));
    case IntForm::Sign: return x > 0 ? T(1) : (x == 0 ? T(0) : static_cast<T>(-1));
    case IntForm::BitNot: return static_cast<T>(~x);
    case IntForm::ViaDouble: return FromDouble<T>(f(static_cast<double>(x), p));
    default: return x;
  }
}

StatusOr<std::unique_ptr<Kernel>> MakeUnary(const PrepareContext& ctx, const UnaryDef& def, const Params& p) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs an input");
  const DType dt = x->dtype;
  if (!(Bit(dt) & def.types)) return Unsupported(spec, dt);
  RunFn fn;
  VisitDType(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    fn = [def, p](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
      const T* src = in[0].as<const T>();
      const int64_t n = in[0].numel;
      ParallelRange(rc, n, kGrain, [&](int64_t begin, int64_t end) {
        const int64_t len = end - begin;
        const T* xs = src + begin;
        if (def.boolOut) {
          bool* ys = out[0].as<bool>() + begin;
          if constexpr (kIsFloat<T>) {
            for (int64_t i = 0; i < len; ++i) ys[i] = def.f(ToDouble(xs[i]), p) != 0;
          }
          return;
        }
        T* ys = out[0].as<T>() + begin;
        if constexpr (std::is_same<T, float>::value) {
          if (def.simd >= 0) {
            simd::Best().unary(static_cast<simd::UnOp>(def.simd), xs, ys, len, static_cast<float>(p.a), static_cast<float>(p.b));
            return;
          }
        }
        if constexpr (kIsFloat<T>) {
          for (int64_t i = 0; i < len; ++i) ys[i] = FromDouble<T>(def.f(ToDouble(xs[i]), p));
        } else if constexpr (kIsBool<T>) {
          for (int64_t i = 0; i < len; ++i) ys[i] = !xs[i];
        } else {
          const IntForm form = def.intForm;
          for (int64_t i = 0; i < len; ++i) ys[i] = IntApply<T, T>(form, xs[i], def.f, p);
        }
      });
      return Status::Ok();
    };
  });
  return MakeKernel(std::move(fn));
}

constexpr int kNoSimd = -1;
constexpr int S(simd::UnOp op) { return static_cast<int>(op); }

/** Registers an op whose parameters do not depend on attributes. */
struct Def {
  const char* name;
  UnaryDef def;
};

const Def kPlain[] = {
    {"Relu", {kSignedNumeric, S(simd::UnOp::Relu), [](double x, const Params&) { return x > 0 ? x : 0.0; }, IntForm::Relu, false}},
    {"Abs", {kNumericTypes, S(simd::UnOp::Abs), [](double x, const Params&) { return std::fabs(x); }, IntForm::Abs, false}},
    {"Neg", {kSignedNumeric, S(simd::UnOp::Neg), [](double x, const Params&) { return -x; }, IntForm::Neg, false}},
    {"Sign", {kNumericTypes, kNoSimd, [](double x, const Params&) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x; }, IntForm::Sign, false}},
    {"Ceil", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::ceil(x); }, IntForm::None, false}},
    {"Floor", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::floor(x); }, IntForm::None, false}},
    {"Round", {kFloatTypes, kNoSimd, [](double x, const Params&) { return RoundHalfEven(x); }, IntForm::None, false}},
    {"Exp", {kFloatTypes, S(simd::UnOp::Exp), [](double x, const Params&) { return std::exp(x); }, IntForm::None, false}},
    {"Log", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::log(x); }, IntForm::None, false}},
    {"Sqrt", {kFloatTypes, S(simd::UnOp::Sqrt), [](double x, const Params&) { return std::sqrt(x); }, IntForm::None, false}},
    {"Reciprocal", {kFloatTypes, S(simd::UnOp::Reciprocal), [](double x, const Params&) { return 1 / x; }, IntForm::None, false}},
    {"Erf", {kNumericTypes, S(simd::UnOp::Erf), [](double x, const Params&) { return Erf(x); }, IntForm::ViaDouble, false}},
    {"Sin", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::sin(x); }, IntForm::None, false}},
    {"Cos", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::cos(x); }, IntForm::None, false}},
    {"Tan", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::tan(x); }, IntForm::None, false}},
    {"Asin", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::asin(x); }, IntForm::None, false}},
    {"Acos", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::acos(x); }, IntForm::None, false}},
    {"Atan", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::atan(x); }, IntForm::None, false}},
    {"Sinh", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::sinh(x); }, IntForm::None, false}},
    {"Cosh", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::cosh(x); }, IntForm::None, false}},
    {"Tanh", {kFloatTypes, S(simd::UnOp::Tanh), [](double x, const Params&) { return std::tanh(x); }, IntForm::None, false}},
    {"Asinh", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::asinh(x); }, IntForm::None, false}},
    {"Acosh", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::acosh(x); }, IntForm::None, false}},
    {"Atanh", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::atanh(x); }, IntForm::None, false}},
    {"IsNaN", {kFloatTypes, kNoSimd, [](double x, const Params&) { return std::isnan(x) ? 1.0 : 0.0; }, IntForm::None, true}},
    {"Not", {Bit(DType::Bool), kNoSimd, nullptr, IntForm::Not, false}},
    {"BitwiseNot", {kIntTypes, kNoSimd, nullptr, IntForm::BitNot, false}},
    {"Sigmoid", {kFloatTypes, S(simd::UnOp::Sigmoid), [](double x, const Params&) { return Sigmoid(x); }, IntForm::None, false}},
    {"HardSwish", {kFloatTypes, S(simd::UnOp::HardSwish), [](double x, const Params&) { return x * std::max(0.0, std::min(1.0, x / 6 + 0.5)); }, IntForm::None, false}},
    {"Softplus", {kFloatTypes, kNoSimd, [](double x, const Params&) { return Softplus(x); }, IntForm::None, false}},
    {"Softsign", {kFloatTypes, kNoSimd, [](double x, const Params&) { return x / (1 + std::fabs(x)); }, IntForm::None, false}},
    {"Mish", {kFloatTypes, kNoSimd, [](double x, const Params&) { return x * std::tanh(Softplus(x)); }, IntForm::None, false}},
};

/** Float attributes arrive as float64 holding float32 values; ONNX computes with the float32. */
double F32Attr(const KernelSpec& s, const char* name, double fallback) { return static_cast<float>(s.Float(name, fallback)); }

struct AttrDef {
  const char* name;
  UnaryDef def;
  Params (*params)(const KernelSpec&);
};

const AttrDef kWithAttrs[] = {
    {"LeakyRelu", {kFloatTypes, S(simd::UnOp::LeakyRelu), [](double x, const Params& p) { return x >= 0 ? x : p.a * x; }, IntForm::None, false},
     [](const KernelSpec& s) { Params p; p.a = F32Attr(s, "alpha", 0.01); return p; }},
    {"Elu", {kFloatTypes, kNoSimd, [](double x, const Params& p) { return x >= 0 ? x : p.a * std::expm1(x); }, IntForm::None, false},
     [](const KernelSpec& s) { Params p; p.a = F32Attr(s, "alpha", 1); return p; }},
    {"Selu", {kFloatTypes, kNoSimd, [](double x, const Params& p) { return p.b * (x > 0 ? x : p.a * std::expm1(x)); }, IntForm::None, false},
     [](const KernelSpec& s) {
       Params p;
       p.a = F32Attr(s, "alpha", 1.67326319217681884765625);
       p.b = F32Attr(s, "gamma", 1.05070102214813232421875);
       return p;
     }},
    {"Celu", {kFloatTypes, kNoSimd, [](double x, const Params& p) { return std::max(0.0, x) + std::min(0.0, p.a * std::expm1(x / p.a)); }, IntForm::None, false},
     [](const KernelSpec& s) { Params p; p.a = F32Attr(s, "alpha", 1); return p; }},
    {"ThresholdedRelu", {kFloatTypes, kNoSimd, [](double x, const Params& p) { return x > p.a ? x : 0.0; }, IntForm::None, false},
     [](const KernelSpec& s) { Params p; p.a = F32Attr(s, "alpha", 1); return p; }},
    {"HardSigmoid", {kFloatTypes, S(simd::UnOp::HardSigmoid), [](double x, const Params& p) { return std::max(0.0, std::min(1.0, p.a * x + p.b)); }, IntForm::None, false},
     [](const KernelSpec& s) {
       Params p;
       p.a = F32Attr(s, "alpha", 0.2);
       p.b = F32Attr(s, "beta", 0.5);
       return p;
     }},
    {"Swish", {kFloatTypes, S(simd::UnOp::Swish), [](double x, const Params& p) { return x * Sigmoid(p.a * x); }, IntForm::None, false},
     [](const KernelSpec& s) { Params p; p.a = F32Attr(s, "alpha", 1); return p; }},
    {"Shrink", {kNumericTypes, kNoSimd, [](double x, const Params& p) { return x < -p.a ? x + p.b : x > p.a ? x - p.b : 0.0; }, IntForm::ViaDouble, false},
     [](const KernelSpec& s) {
       Params p;
       p.a = F32Attr(s, "lambd", 0.5);
       p.b = F32Attr(s, "bias", 0);
       return p;
     }},
    {"IsInf", {kFloatTypes, kNoSimd, [](double x, const Params& p) { return (x == INFINITY && p.p) || (x == -INFINITY && p.n) ? 1.0 : 0.0; }, IntForm::None, true},
     [](const KernelSpec& s) {
       Params p;
       p.p = s.Int("detect_positive", 1) != 0;
       p.n = s.Int("detect_negative", 1) != 0;
       return p;
     }},
};

struct RegisterUnaryOps {
  RegisterUnaryOps() {
    for (const Def& d : kPlain) {
      UnaryDef def = d.def;
      KernelRegistry::Get().Add(d.name, [def](const PrepareContext& ctx) { return MakeUnary(ctx, def, Params{}); });
    }
    for (const AttrDef& d : kWithAttrs) {
      AttrDef a = d;
      KernelRegistry::Get().Add(d.name, [a](const PrepareContext& ctx) { return MakeUnary(ctx, a.def, a.params(ctx.spec)); });
    }
  }
} registerUnaryOps;

StatusOr<std::unique_ptr<Kernel>> MakeGelu(const PrepareContext& ctx) {
  const std::string mode = ctx.spec.String("approximate", "none");
  if (mode == "none") {
    UnaryDef def{kFloatTypes, S(simd::UnOp::GeluErf), [](double x, const Params&) { return 0.5 * x * (1 + Erf(x / std::sqrt(2.0))); }, IntForm::None, false};
    return MakeUnary(ctx, def, Params{});
  }
  if (mode == "tanh") {
    UnaryDef def{kFloatTypes, S(simd::UnOp::GeluTanh),
                 [](double x, const Params&) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }, IntForm::None, false};
    return MakeUnary(ctx, def, Params{});
  }
  return BadPlan(ctx.spec, "attribute 'approximate' must be 'none' or 'tanh', got '" + mode + "'");
}
MCPC_REGISTER_KERNEL("Gelu", MakeGelu);

// ---- Clip: optional scalar bounds in inputs 1 and 2, read at run time --------------------------

StatusOr<std::unique_ptr<Kernel>> MakeClip(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs an input");
  if (!(Bit(x->dtype) & kNumericTypes)) return Unsupported(spec, x->dtype);
  for (size_t i = 1; i < 3; ++i) {
    const Slot* b = ctx.input(i);
    if (b && (b->dtype != x->dtype || Numel(b->shape) != 1)) return BadPlan(spec, "bounds must be scalars of the input's dtype");
  }
  RunFn fn;
  VisitDType(x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!kIsBool<T>) {
      fn = [](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
        using Tr = Traits<T>;
        using C = typename Tr::C;
        const bool hasLo = in.size() > 1 && in[1].data;
        const bool hasHi = in.size() > 2 && in[2].data;
        using L = std::numeric_limits<C>;
        const C lo = hasLo ? Tr::Load(in[1].as<const T>()[0]) : (L::has_infinity ? -L::infinity() : L::lowest());
        const C hi = hasHi ? Tr::Load(in[2].as<const T>()[0]) : (L::has_infinity ? L::infinity() : L::max());
        const T* src = in[0].as<const T>();
        T* dst = out[0].as<T>();
        ParallelRange(rc, in[0].numel, kGrain, [&](int64_t begin, int64_t end) {
          if constexpr (std::is_same<T, float>::value) {
            simd::Best().unary(simd::UnOp::Clip, src + begin, dst + begin, end - begin, lo, hi);
          } else {
            for (int64_t i = begin; i < end; ++i) {
              C v = Tr::Load(src[i]);
              if constexpr (std::is_floating_point<C>::value) {
                if (v != v) { dst[i] = src[i]; continue; }
              }
              v = v < lo ? lo : v;
              dst[i] = Tr::Store(hi < v ? hi : v);  // min(max, max(x, min)): every element is max when min > max
            }
          }
        });
        return Status::Ok();
      };
    }
  });
  return MakeKernel(std::move(fn));
}
MCPC_REGISTER_KERNEL("Clip", MakeClip);

}  // namespace
}  // namespace ew
}  // namespace mcpc
