// Broadcasting elementwise ops: arithmetic (Add Sub Mul Div Pow Mod, bitwise, BitShift), comparisons,
// logic, the variadic Max/Min/Sum/Mean, Where and PRelu, plus the shared broadcasting iterator,
// input readers and the run-time choice of f32 SIMD kernels. Semantics follow
// compiler/ops/elementwise.ts: integer Div/Mod by zero give 0, Mod without fmod is floored, Max/Min
// propagate NaN, integer arithmetic wraps.
#include "elementwise.h"

#include <algorithm>

namespace mcpc {
namespace ew {

// ---- Broadcast, readers, SIMD choice --------------------------------------------------------

bool Broadcast::Build(const std::vector<int64_t>& out, const std::vector<const std::vector<int64_t>*>& ins) {
  nin = static_cast<int>(ins.size());
  const int r = static_cast<int>(out.size());
  numel = Numel(out);
  std::vector<std::vector<int64_t>> full(nin, std::vector<int64_t>(r, 0));
  for (int k = 0; k < nin; ++k) {
    const auto& s = *ins[k];
    const int off = r - static_cast<int>(s.size());
    if (off < 0) return false;
    int64_t acc = 1;
    for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) {
      if (s[d] != 1 && s[d] != out[d + off]) return false;
      full[k][d + off] = s[d] == 1 ? 0 : acc;
      acc *= s[d];
    }
  }
  dims.clear();
  for (int k = 0; k < kMaxInputs; ++k) strides[k].clear();
  for (int d = 0; d < r; ++d) {
    if (out[d] == 1) continue;
    bool merge = !dims.empty();
    for (int k = 0; k < nin && merge; ++k) merge = strides[k].back() == full[k][d] * out[d];
    if (merge) {
      dims.back() *= out[d];
      for (int k = 0; k < nin; ++k) strides[k].back() = full[k][d];
    } else {
      dims.push_back(out[d]);
      for (int k = 0; k < nin; ++k) strides[k].push_back(full[k][d]);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    for (int k = 0; k < nin; ++k) strides[k].push_back(0);
  }
  return dims.size() <= 16;
}

std::vector<int64_t> ReadInts(const void* data, DType t, int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  VisitDType(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(data);
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (kIsFloat<T>) v[i] = static_cast<int64_t>(ToDouble(p[i]));
      else v[i] = static_cast<int64_t>(p[i]);
    }
  });
  return v;
}

std::vector<double> ReadDoubles(const void* data, DType t, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  VisitDType(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(data);
    for (int64_t i = 0; i < n; ++i) v[i] = ToDouble(p[i]);
  });
  return v;
}

bool ConstantInts(const PrepareContext& ctx, size_t i, std::vector<int64_t>* out) {
  const Slot* s = ctx.input(i);
  const void* p = s && ctx.constantInput ? ctx.constantInput(i) : nullptr;
  if (!p) return false;
  *out = ReadInts(p, s->dtype, Numel(s->shape));
  return true;
}

bool ConstantDoubles(const PrepareContext& ctx, size_t i, std::vector<double>* out) {
  const Slot* s = ctx.input(i);
  const void* p = s && ctx.constantInput ? ctx.constantInput(i) : nullptr;
  if (!p) return false;
  *out = ReadDoubles(p, s->dtype, Numel(s->shape));
  return true;
}

namespace simd {
namespace {
void ScalarBinary(BinOp op, const float* a, const float* b, float* out, int64_t n, int mode) {
  for (int64_t i = 0; i < n; ++i) {
    float x = a[mode == 1 ? 0 : i], y = b[mode == 2 ? 0 : i];
    switch (op) {
      case BinOp::Add: out[i] = x + y; break;
      case BinOp::Sub: out[i] = x - y; break;
      case BinOp::Mul: out[i] = x * y; break;
      case BinOp::Div: out[i] = x / y; break;
      case BinOp::Max: out[i] = (x != x || y != y) ? x + y : std::max(x, y); break;
      case BinOp::Min: out[i] = (x != x || y != y) ? x + y : std::min(x, y); break;
    }
  }
}
void ScalarUnary(UnOp op, const float* x, float* y, int64_t n, float p0, float p1) {
  for (int64_t i = 0; i < n; ++i) {
    double v = x[i], r = 0;
    switch (op) {
      case UnOp::Relu: r = v > 0 ? v : 0; break;
      case UnOp::LeakyRelu: r = v >= 0 ? v : p0 * v; break;
      case UnOp::Exp: r = std::exp(v); break;
      case UnOp::Sigmoid: r = 1 / (1 + std::exp(-v)); break;
      case UnOp::Tanh: r = std::tanh(v); break;
      case UnOp::Erf: r = std::erf(v); break;
      case UnOp::GeluErf: r = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); break;
      case UnOp::GeluTanh: r = 0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); break;
      case UnOp::Swish: r = v / (1 + std::exp(-p0 * v)); break;
      case UnOp::Sqrt: r = std::sqrt(v); break;
      case UnOp::Neg: r = -v; break;
      case UnOp::Abs: r = std::fabs(v); break;
      case UnOp::Reciprocal: r = 1 / v; break;
      case UnOp::Clip: r = std::isnan(v) ? v : std::min<double>(p1, std::max<double>(v, p0)); break;
      case UnOp::HardSigmoid: r = std::max(0.0, std::min(1.0, p0 * v + p1)); break;
      case UnOp::HardSwish: r = v * std::max(0.0, std::min(1.0, v / 6 + 0.5)); break;
    }
    y[i] = static_cast<float>(r);
  }
}
const F32Kernels kScalar = {"scalar", &ScalarBinary, &ScalarUnary};
}  // namespace

const F32Kernels* ScalarKernels() { return &kScalar; }

const F32Kernels& Best() {
  static const F32Kernels* best = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma")) {
      return Avx512Kernels();
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) return Avx2Kernels();
    return ScalarKernels();
  }();
  return *best;
}
}  // namespace simd

namespace {

// ---- Scalar functions -----------------------------------------------------------------------

template <class C> C WrapAdd(C a, C b) {
  if constexpr (std::is_integral<C>::value) {
    using U = typename std::make_unsigned<C>::type;
    return static_cast<C>(static_cast<U>(a) + static_cast<U>(b));
  } else return a + b;
}
template <class C> C WrapSub(C a, C b) {
  if constexpr (std::is_integral<C>::value) {
    using U = typename std::make_unsigned<C>::type;
    return static_cast<C>(static_cast<U>(a) - static_cast<U>(b));
  } else return a - b;
}
template <class C> C WrapMul(C a, C b) {
  if constexpr (std::is_integral<C>::value) {
    using U = typename std::make_unsigned<C>::type;
    using P = typename std::conditional<(sizeof(C) < sizeof(unsigned)), unsigned, U>::type;
    return static_cast<C>(static_cast<P>(static_cast<U>(a)) * static_cast<P>(static_cast<U>(b)));
  } else return a * b;
}

constexpr bool NumericOnly(bool isFloat, bool isInt) { return isFloat || isInt; }

// Each op: accepts<T>() (storage type), kBoolOut, and operator()(C a, C b) on the compute type.
struct AddOp {
  template <class T> static constexpr bool accepts() { return NumericOnly(kIsFloat<T>, kIsInt<T>); }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = static_cast<int>(simd::BinOp::Add);
  template <class C> C operator()(C a, C b) const { return WrapAdd(a, b); }
};
struct SubOp {
  template <class T> static constexpr bool accepts() { return NumericOnly(kIsFloat<T>, kIsInt<T>); }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = static_cast<int>(simd::BinOp::Sub);
  template <class C> C operator()(C a, C b) const { return WrapSub(a, b); }
};
struct MulOp {
  template <class T> static constexpr bool accepts() { return NumericOnly(kIsFloat<T>, kIsInt<T>); }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = static_cast<int>(simd::BinOp::Mul);
  template <class C> C operator()(C a, C b) const { return WrapMul(a, b); }
};
struct DivOp {
  template <class T> static constexpr bool accepts() { return NumericOnly(kIsFloat<T>, kIsInt<T>); }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = static_cast<int>(simd::BinOp::Div);
  template <class C> C operator()(C a, C b) const {
    if constexpr (std::is_integral<C>::value) {
      if (b == 0) return 0;
      if constexpr (std::is_signed<C>::value) {
        if (b == -1) return WrapSub<C>(0, a);
      }
      return static_cast<C>(a / b);
    } else return a / b;
  }
};
struct MaxOp {
  template <class T> static constexpr bool accepts() { return NumericOnly(kIsFloat<T>, kIsInt<T>); }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = static_cast<int>(simd::BinOp::Max);
  template <class C> C operator()(C a, C b) const {
    if constexpr (std::is_floating_point<C>::value) {
      if (a != a || b != b) return a + b;
    }
    return a > b ? a : b;
  }
};
struct MinOp {
  template <class T> static constexpr bool accepts() { return NumericOnly(kIsFloat<T>, kIsInt<T>); }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = static_cast<int>(simd::BinOp::Min);
  template <class C> C operator()(C a, C b) const {
    if constexpr (std::is_floating_point<C>::value) {
      if (a != a || b != b) return a + b;
    }
    return a < b ? a : b;
  }
};
struct ModOp {
  bool fmod = false;
  template <class T> static constexpr bool accepts() { return NumericOnly(kIsFloat<T>, kIsInt<T>); }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = -1;
  template <class C> C operator()(C a, C b) const {
    if constexpr (std::is_integral<C>::value) {
      if (b == 0) return 0;
      if constexpr (std::is_signed<C>::value) {
        if (b == -1) return 0;
      }
      C r = static_cast<C>(a % b);
      if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<C>(r + b);
      return r;
    } else {
      C r = std::fmod(a, b);
      if (fmod) return r;
      if (r == 0) return b < 0 ? C(-0.0) : C(0);
      if ((r < 0) != (b < 0)) r += b;
      return r;
    }
  }
};
struct BitAndOp {
  template <class T> static constexpr bool accepts() { return kIsInt<T>; }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = -1;
  template <class C> C operator()(C a, C b) const { return static_cast<C>(a & b); }
};
struct BitOrOp {
  template <class T> static constexpr bool accepts() { return kIsInt<T>; }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = -1;
  template <class C> C operator()(C a, C b) const { return static_cast<C>(a | b); }
};
struct BitXorOp {
  template <class T> static constexpr bool accepts() { return kIsInt<T>; }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = -1;
  template <class C> C operator()(C a, C b) const { return static_cast<C>(a ^ b); }
};
struct BitShiftOp {
  bool right = false;
  template <class T> static constexpr bool accepts() { return kIsInt<T>; }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = -1;
  template <class C> C operator()(C a, C b) const {
    constexpr uint64_t bits = 8 * sizeof(C);
    using U = typename std::make_unsigned<C>::type;
    // Negative amounts become huge as uint64: both are out of range.
    if (static_cast<uint64_t>(static_cast<int64_t>(b)) >= bits) {
      if constexpr (std::is_signed<C>::value) return right && a < 0 ? C(-1) : C(0);
      else return C(0);
    }
    if (right) return static_cast<C>(a >> b);
    return static_cast<C>(static_cast<U>(static_cast<U>(a) << b));
  }
};
struct AndOp {
  template <class T> static constexpr bool accepts() { return kIsBool<T>; }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = -1;
  template <class C> C operator()(C a, C b) const { return a && b; }
};
struct OrOp {
  template <class T> static constexpr bool accepts() { return kIsBool<T>; }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = -1;
  template <class C> C operator()(C a, C b) const { return a || b; }
};
struct XorOp {
  template <class T> static constexpr bool accepts() { return kIsBool<T>; }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = -1;
  template <class C> C operator()(C a, C b) const { return a != b; }
};
#define MCPC_COMPARE_OP(Name, expr, types)                                       \
  struct Name {                                                                  \
    template <class T> static constexpr bool accepts() { return types; }         \
    static constexpr bool kBoolOut = true;                                       \
    static constexpr int kSimd = -1;                                             \
    template <class C> bool operator()(C a, C b) const { return expr; }          \
  };
MCPC_COMPARE_OP(EqualOp, a == b, true)
MCPC_COMPARE_OP(LessOp, a < b, (NumericOnly(kIsFloat<T>, kIsInt<T>)))
MCPC_COMPARE_OP(LessOrEqualOp, a <= b, (NumericOnly(kIsFloat<T>, kIsInt<T>)))
MCPC_COMPARE_OP(GreaterOp, a > b, (NumericOnly(kIsFloat<T>, kIsInt<T>)))
MCPC_COMPARE_OP(GreaterOrEqualOp, a >= b, (NumericOnly(kIsFloat<T>, kIsInt<T>)))
#undef MCPC_COMPARE_OP
struct PReluOp {
  template <class T> static constexpr bool accepts() { return NumericOnly(kIsFloat<T>, kIsInt<T>); }
  static constexpr bool kBoolOut = false;
  static constexpr int kSimd = -1;
  template <class C> C operator()(C x, C s) const {
    if constexpr (std::is_unsigned<C>::value) return x;
    else return x < 0 ? WrapMul(s, x) : x;
  }
};

// ---- Loops ------------------------------------------------------------------------------------

/** out = op(a, b) over a broadcast plan; the f32 path of ops with a SIMD form uses it. */
template <class Op, class T>
void RunBinary(const Broadcast& bc, const Op& op, const T* a, const T* b, void* outp, RunContext& ctx) {
  using Tr = Traits<T>;
  using O = typename std::conditional<Op::kBoolOut, bool, T>::type;
  O* out = static_cast<O*>(outp);
  const int64_t sa = bc.innerStride(0), sb = bc.innerStride(1);
  ParallelRange(ctx, bc.numel, kGrain, [&](int64_t begin, int64_t end) {
    bc.ForEach(begin, end, [&](int64_t o, const int64_t* off, int64_t len) {
      const T* pa = a + off[0];
      const T* pb = b + off[1];
      O* po = out + o;
      if constexpr (std::is_same<T, float>::value && Op::kSimd >= 0) {
        if (sa || sb) {
          simd::Best().binary(static_cast<simd::BinOp>(Op::kSimd), pa, pb, po, len, sa && sb ? 0 : sa ? 2 : 1);
          return;
        }
      }
      auto store = [](auto v) {
        if constexpr (Op::kBoolOut) return static_cast<bool>(v);
        else return Tr::Store(v);
      };
      if (sa && sb) {
        for (int64_t i = 0; i < len; ++i) po[i] = store(op(Tr::Load(pa[i]), Tr::Load(pb[i])));
      } else if (sb) {
        const auto x = Tr::Load(pa[0]);
        for (int64_t i = 0; i < len; ++i) po[i] = store(op(x, Tr::Load(pb[i])));
      } else if (sa) {
        const auto y = Tr::Load(pb[0]);
        for (int64_t i = 0; i < len; ++i) po[i] = store(op(Tr::Load(pa[i]), y));
      } else {
        const O v = store(op(Tr::Load(pa[0]), Tr::Load(pb[0])));
        for (int64_t i = 0; i < len; ++i) po[i] = v;
      }
    });
  });
}

template <class Op>
StatusOr<std::unique_ptr<Kernel>> MakeBinary(const PrepareContext& ctx, Op op) {
  const KernelSpec& spec = ctx.spec;
  const Slot* a = ctx.input(0);
  const Slot* b = ctx.input(1);
  const Slot* o = ctx.output(0);
  if (!a || !b || spec.inputs.size() != 2) return BadPlan(spec, "needs two inputs");
  if (a->dtype != b->dtype) return Unsupported(spec, b->dtype, "mixed");
  auto bc = std::make_shared<Broadcast>();
  if (!bc->Build(o->shape, {&a->shape, &b->shape})) return BadPlan(spec, "input shapes do not broadcast to the output shape");
  RunFn fn;
  VisitDType(a->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (Op::template accepts<T>()) {
      fn = [bc, op](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
        RunBinary<Op, T>(*bc, op, in[0].as<const T>(), in[1].as<const T>(), out[0].data, rc);
        return Status::Ok();
      };
    }
  });
  if (!fn) return Unsupported(spec, a->dtype);
  return MakeKernel(std::move(fn));
}

template <class Op> KernelFactory BinaryFactory() {
  return [](const PrepareContext& ctx) { return MakeBinary(ctx, Op{}); };
}

// ---- Pow (the exponent may have another dtype) ------------------------------------------------

StatusOr<std::unique_ptr<Kernel>> MakePow(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* a = ctx.input(0);
  const Slot* b = ctx.input(1);
  if (!a || !b) return BadPlan(spec, "needs two inputs");
  const uint32_t base = kFloatTypes | Bit(DType::I32) | Bit(DType::I64);
  if (!(Bit(a->dtype) & base)) return Unsupported(spec, a->dtype);
  if (!(Bit(b->dtype) & kNumericTypes)) return Unsupported(spec, b->dtype, "exponent");
  auto bc = std::make_shared<Broadcast>();
  if (!bc->Build(ctx.output(0)->shape, {&a->shape, &b->shape})) return BadPlan(spec, "input shapes do not broadcast");
  RunFn fn;
  VisitDType(a->dtype, [&](auto ta) {
    using T = typename decltype(ta)::type;
    if constexpr (!kIsBool<T>) {
      VisitDType(b->dtype, [&](auto tb) {
        using E = typename decltype(tb)::type;
        if constexpr (!kIsBool<E>) {
          fn = [bc](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
            const T* x = in[0].as<const T>();
            const E* y = in[1].as<const E>();
            T* z = out[0].as<T>();
            const int64_t sa = bc->innerStride(0), sb = bc->innerStride(1);
            ParallelRange(rc, bc->numel, kGrain / 4, [&](int64_t begin, int64_t end) {
              bc->ForEach(begin, end, [&](int64_t o, const int64_t* off, int64_t len) {
                const T* px = x + off[0];
                const E* py = y + off[1];
                if (!sb && ToDouble(py[0]) == 2.0 && std::is_same<T, float>::value) {
                  for (int64_t i = 0; i < len; ++i) {
                    double v = ToDouble(px[i * sa]);
                    z[o + i] = FromDouble<T>(v * v);
                  }
                  return;
                }
                for (int64_t i = 0; i < len; ++i) z[o + i] = FromDouble<T>(std::pow(ToDouble(px[i * sa]), ToDouble(py[i * sb])));
              });
            });
            return Status::Ok();
          };
        }
      });
    }
  });
  if (!fn) return Unsupported(spec, a->dtype);
  return MakeKernel(std::move(fn));
}

// ---- Variadic Max/Min/Sum/Mean ----------------------------------------------------------------

template <class Op>
StatusOr<std::unique_ptr<Kernel>> MakeVariadic(const PrepareContext& ctx, bool mean) {
  const KernelSpec& spec = ctx.spec;
  const size_t n = spec.inputs.size();
  const Slot* o = ctx.output(0);
  if (n == 0) return BadPlan(spec, "needs at least one input");
  for (size_t i = 0; i < n; ++i) {
    if (!ctx.input(i)) return BadPlan(spec, "has an omitted input");
    if (ctx.input(i)->dtype != o->dtype) return Unsupported(spec, ctx.input(i)->dtype, "mixed");
  }
  if (mean && !(Bit(o->dtype) & kFloatTypes)) return Unsupported(spec, o->dtype);
  // Step 0 combines inputs 0 and 1 (or copies input 0); step k >= 1 folds input k+1 into out.
  auto plans = std::make_shared<std::vector<Broadcast>>(std::max<size_t>(n - 1, 1));
  if (!(*plans)[0].Build(o->shape, {&ctx.input(0)->shape, n > 1 ? &ctx.input(1)->shape : &ctx.input(0)->shape})) {
    return BadPlan(spec, "input shapes do not broadcast");
  }
  for (size_t k = 2; k < n; ++k) {
    if (!(*plans)[k - 1].Build(o->shape, {&o->shape, &ctx.input(k)->shape})) return BadPlan(spec, "input shapes do not broadcast");
  }
  RunFn fn;
  VisitDType(o->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (Op::template accepts<T>()) {
      fn = [plans, n, mean](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
        T* z = out[0].as<T>();
        if (n == 1) {
          // A single input has the output's shape.
          if (in[0].data != z) std::memcpy(z, in[0].data, out[0].numel * sizeof(T));
        } else {
          RunBinary<Op, T>((*plans)[0], Op{}, in[0].as<const T>(), in[1].as<const T>(), z, rc);
          for (size_t k = 2; k < n; ++k) RunBinary<Op, T>((*plans)[k - 1], Op{}, z, in[k].as<const T>(), z, rc);
        }
        if constexpr (kIsFloat<T>) {
          if (mean) {
            using Tr = Traits<T>;
            const auto d = static_cast<typename Tr::C>(n);
            for (int64_t i = 0; i < out[0].numel; ++i) z[i] = Tr::Store(Tr::Load(z[i]) / d);
          }
        }
        return Status::Ok();
      };
    }
  });
  if (!fn) return Unsupported(spec, o->dtype);
  return MakeKernel(std::move(fn));
}

// ---- Where ------------------------------------------------------------------------------------

StatusOr<std::unique_ptr<Kernel>> MakeWhere(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* c = ctx.input(0);
  const Slot* x = ctx.input(1);
  const Slot* y = ctx.input(2);
  if (!c || !x || !y) return BadPlan(spec, "needs three inputs");
  if (c->dtype != DType::Bool) return Unsupported(spec, c->dtype, "condition");
  if (x->dtype != y->dtype) return Unsupported(spec, y->dtype, "mixed");
  auto bc = std::make_shared<Broadcast>();
  if (!bc->Build(ctx.output(0)->shape, {&c->shape, &x->shape, &y->shape})) return BadPlan(spec, "input shapes do not broadcast");
  RunFn fn;
  VisitSize(DTypeSize(x->dtype), [&](auto tag) {
    using T = typename decltype(tag)::type;
    fn = [bc](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
      const bool* cond = in[0].as<const bool>();
      const T* a = in[1].as<const T>();
      const T* b = in[2].as<const T>();
      T* z = out[0].as<T>();
      const int64_t s0 = bc->innerStride(0), s1 = bc->innerStride(1), s2 = bc->innerStride(2);
      ParallelRange(rc, bc->numel, kGrain, [&](int64_t begin, int64_t end) {
        bc->ForEach(begin, end, [&](int64_t o, const int64_t* off, int64_t len) {
          const bool* pc = cond + off[0];
          const T* pa = a + off[1];
          const T* pb = b + off[2];
          if (s0 && s1 && s2) {
            for (int64_t i = 0; i < len; ++i) z[o + i] = pc[i] ? pa[i] : pb[i];
          } else {
            for (int64_t i = 0; i < len; ++i) z[o + i] = pc[i * s0] ? pa[i * s1] : pb[i * s2];
          }
        });
      });
      return Status::Ok();
    };
  });
  return MakeKernel(std::move(fn));
}

MCPC_REGISTER_KERNEL("Add", BinaryFactory<AddOp>());
MCPC_REGISTER_KERNEL("Sub", BinaryFactory<SubOp>());
MCPC_REGISTER_KERNEL("Mul", BinaryFactory<MulOp>());
MCPC_REGISTER_KERNEL("Div", BinaryFactory<DivOp>());
MCPC_REGISTER_KERNEL("Pow", MakePow);
MCPC_REGISTER_KERNEL("Mod", [](const PrepareContext& ctx) -> StatusOr<std::unique_ptr<Kernel>> {
  ModOp op;
  int64_t f = ctx.spec.Int("fmod", 0);
  if (f != 0 && f != 1) return BadPlan(ctx.spec, "attribute 'fmod' must be 0 or 1");
  op.fmod = f == 1;
  return MakeBinary(ctx, op);
});
MCPC_REGISTER_KERNEL("BitwiseAnd", BinaryFactory<BitAndOp>());
MCPC_REGISTER_KERNEL("BitwiseOr", BinaryFactory<BitOrOp>());
MCPC_REGISTER_KERNEL("BitwiseXor", BinaryFactory<BitXorOp>());
MCPC_REGISTER_KERNEL("BitShift", [](const PrepareContext& ctx) -> StatusOr<std::unique_ptr<Kernel>> {
  BitShiftOp op;
  std::string dir = ctx.spec.String("direction", "");
  if (dir != "LEFT" && dir != "RIGHT") return BadPlan(ctx.spec, "attribute 'direction' must be LEFT or RIGHT");
  op.right = dir == "RIGHT";
  return MakeBinary(ctx, op);
});
MCPC_REGISTER_KERNEL("And", BinaryFactory<AndOp>());
MCPC_REGISTER_KERNEL("Or", BinaryFactory<OrOp>());
MCPC_REGISTER_KERNEL("Xor", BinaryFactory<XorOp>());
MCPC_REGISTER_KERNEL("Equal", BinaryFactory<EqualOp>());
MCPC_REGISTER_KERNEL("Less", BinaryFactory<LessOp>());
MCPC_REGISTER_KERNEL("LessOrEqual", BinaryFactory<LessOrEqualOp>());
MCPC_REGISTER_KERNEL("Greater", BinaryFactory<GreaterOp>());
MCPC_REGISTER_KERNEL("GreaterOrEqual", BinaryFactory<GreaterOrEqualOp>());
MCPC_REGISTER_KERNEL("PRelu", BinaryFactory<PReluOp>());
MCPC_REGISTER_KERNEL("Max", [](const PrepareContext& ctx) { return MakeVariadic<MaxOp>(ctx, false); });
MCPC_REGISTER_KERNEL("Min", [](const PrepareContext& ctx) { return MakeVariadic<MinOp>(ctx, false); });
MCPC_REGISTER_KERNEL("Sum", [](const PrepareContext& ctx) { return MakeVariadic<AddOp>(ctx, false); });
MCPC_REGISTER_KERNEL("Mean", [](const PrepareContext& ctx) { return MakeVariadic<AddOp>(ctx, true); });
MCPC_REGISTER_KERNEL("Where", MakeWhere);

}  // namespace
}  // namespace ew
}  // namespace mcpc
