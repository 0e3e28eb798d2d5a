// ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare (axes as input 1, constant at
// Prepare or read at run time; keepdims only changes the shape, not the memory order) and
// ArgMax/ArgMin. Floats accumulate in double (f16/bf16 reduce widened to f32); i32/i64 are
// supported where the math is exact.
// Adjacent dims with the same reduced/kept role are merged, so the common cases (one trailing axis,
// one leading axis) become a single row or column loop.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "../kernel.h"
#include "through_f32.h"
#include "../thread_pool.h"
#include "elementwise.h"

namespace mcpc {
namespace {

enum class Kind { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

/** Input dims merged into runs that are all reduced or all kept (size-1 dims dropped). */
struct Geometry {
  std::vector<int64_t> size;
  std::vector<char> reduced;
  std::vector<int64_t> inStride, outStride;
  int64_t nOut = 1, count = 1, numel = 1;
};

Geometry MakeGeometry(const std::vector<int64_t>& dims, const std::vector<char>& mask) {
  Geometry g;
  for (size_t i = 0; i < dims.size(); ++i) {
    g.numel *= dims[i];
    if (mask[i]) g.count *= dims[i];
    else g.nOut *= dims[i];
    if (dims[i] == 1) continue;
    if (!g.size.empty() && g.reduced.back() == mask[i]) {
      g.size.back() *= dims[i];
    } else {
      g.size.push_back(dims[i]);
      g.reduced.push_back(mask[i]);
    }
  }
  if (g.size.empty()) {
    g.size.push_back(1);
    g.reduced.push_back(0);
  }
  const size_t r = g.size.size();
  g.inStride.assign(r, 1);
  g.outStride.assign(r, 0);
  int64_t is = 1, os = 1;
  for (size_t i = r; i-- > 0;) {
    g.inStride[i] = is;
    is *= g.size[i];
    if (!g.reduced[i]) {
      g.outStride[i] = os;
      os *= g.size[i];
    }
  }
  return g;
}

/**
 * Calls elem(acc, value, outIndex) for every input element, acc being that output's accumulator.
 * Parallel over the outermost merged dim when it is kept (threads then own disjoint outputs).
 */
template <typename T, typename A, typename Elem>
void Accumulate(const T* x, A* acc, const Geometry& g, ThreadPool* pool, Elem elem) {
  if (g.numel == 0) return;  // an empty input leaves every accumulator at its identity
  const size_t r = g.size.size();
  const int64_t last = g.size[r - 1];
  const bool lastReduced = g.reduced[r - 1];
  auto body = [&](int64_t lo, int64_t hi) {
    // Odometer over dims [0, r-1), with dim 0 restricted to [lo, hi).
    if (r == 1) {
      if (lastReduced) {
        A a = acc[0];
        for (int64_t j = lo; j < hi; ++j) elem(a, x[j], 0);
        acc[0] = a;
      } else {
        for (int64_t j = lo; j < hi; ++j) elem(acc[j], x[j], j);
      }
      return;
    }
    std::vector<int64_t> idx(r - 1, 0);
    idx[0] = lo;
    for (;;) {
      int64_t in = 0, out = 0;
      for (size_t d = 0; d + 1 < r; ++d) {
        in += idx[d] * g.inStride[d];
        out += idx[d] * g.outStride[d];
      }
      const T* xr = x + in;
      if (lastReduced) {
        A a = acc[out];
        for (int64_t j = 0; j < last; ++j) elem(a, xr[j], out);
        acc[out] = a;
      } else {
        A* ar = acc + out;
        for (int64_t j = 0; j < last; ++j) elem(ar[j], xr[j], out + j);
      }
      size_t d = r - 1;
      while (d-- > 0) {
        if (++idx[d] < (d == 0 ? hi : g.size[d])) break;
        if (d == 0) return;
        idx[d] = 0;
      }
      if (r - 1 == 0) return;
    }
  };
  const int64_t outerN = g.size[0];
  const bool canSplit = !g.reduced[0] && (r > 1 || !lastReduced);
  if (pool && pool->threads() > 1 && canSplit && outerN > 1 && g.numel > 32768) pool->ParallelFor(outerN, 1, body);
  else body(0, outerN);
}

template <typename T>
struct AccOf {
  using type = typename std::conditional<std::is_floating_point<T>::value, double, int64_t>::type;
};

class ReduceKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx, Kind kind) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sx = ctx.input(0);
    if (!sx || spec.outputs.size() != 1) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s needs an input and one output (node %s)", spec.op.c_str(), spec.source.c_str());
    const bool isFloat = sx->dtype == DType::F32 || sx->dtype == DType::F64 || sx->dtype == DType::F16 || sx->dtype == DType::BF16;
    const bool isInt = sx->dtype == DType::I32 || sx->dtype == DType::I64;
    const bool exactOnInts = kind == Kind::Sum || kind == Kind::Mean || kind == Kind::Max || kind == Kind::Min || kind == Kind::Prod ||
                             kind == Kind::L1 || kind == Kind::SumSquare;
    // Max and min select one of their inputs: bool and the narrow integers reduce exactly through f32.
    if ((kind == Kind::Max || kind == Kind::Min) && !isFloat && WidensToF32(sx->dtype)) {
      return CreateThroughF32(ctx, sx->dtype, [kind](const PrepareContext& pc) { return ReduceKernel::Create(pc, kind); });
    }
    if (!isFloat && !(isInt && exactOnInts)) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s on %s is not supported by the cpu target (node %s)", spec.op.c_str(), DTypeName(sx->dtype),
                        spec.source.c_str());
    }
    auto k = std::make_unique<ReduceKernel>();
    k->kind_ = kind;
    k->dtype_ = sx->dtype;
    k->dims_ = sx->shape;
    k->noop_ = spec.Int("noop_with_empty_axes", 0) != 0;
    k->source_ = spec.source;
    k->op_ = spec.op;
    const Slot* sa = ctx.input(1);
    if (sa) {
      if (sa->dtype != DType::I64) return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s axes must be i64 (node %s)", spec.op.c_str(), spec.source.c_str());
      const void* p = ctx.constantInput ? ctx.constantInput(1) : nullptr;
      int64_t n = 1;
      for (auto d : sa->shape) n *= d;
      if (p) {
        const int64_t* a = static_cast<const int64_t*>(p);
        MCPC_RETURN_IF_ERROR(k->SetAxes(std::vector<int64_t>(a, a + n)));
        k->axesKnown_ = true;
      }
    } else {
      MCPC_RETURN_IF_ERROR(k->SetAxes({}));
      k->axesKnown_ = true;
    }
    int64_t outN = 1;
    for (auto d : ctx.output(0)->shape) outN *= d;
    if (k->axesKnown_ && !k->identity_ && outN != k->geo_.nOut) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s output has %ld elements, expected %ld (node %s)", spec.op.c_str(), (long)outN,
                        (long)k->geo_.nOut, spec.source.c_str());
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    if (!axesKnown_) {
      const int64_t* a = in[1].as<int64_t>();
      MCPC_RETURN_IF_ERROR(SetAxes(std::vector<int64_t>(a, a + in[1].numel)));
      if (!identity_ && out[0].numel != geo_.nOut) {
        return MCPC_ERROR(MCPC_E_KERNEL, "%s: axes give %ld outputs, the plan has %ld (node %s)", op_.c_str(), (long)geo_.nOut,
                          (long)out[0].numel, source_.c_str());
      }
    }
    if (identity_) {
      std::memcpy(out[0].data, in[0].data, in[0].numel * DTypeSize(dtype_));
      return Status::Ok();
    }
    switch (dtype_) {
      case DType::F32: Compute(in[0].as<float>(), out[0].as<float>(), ctx.pool); break;
      case DType::F64: Compute(in[0].as<double>(), out[0].as<double>(), ctx.pool); break;
      case DType::I32: Compute(in[0].as<int32_t>(), out[0].as<int32_t>(), ctx.pool); break;
      case DType::I64: Compute(in[0].as<int64_t>(), out[0].as<int64_t>(), ctx.pool); break;
      case DType::F16: case DType::BF16: ComputeHalf(in[0], out[0], ctx.pool); break;
      default: break;
    }
    return Status::Ok();
  }

  /** f16/bf16: widened to f32, reduced as f32 (double accumulators), rounded once. */
  void ComputeHalf(const TensorView& x, const TensorView& y, ThreadPool* pool) {
    const bool f16 = dtype_ == DType::F16;
    std::vector<float> xf(static_cast<size_t>(x.numel)), yf(static_cast<size_t>(y.numel));
    const uint16_t* xp = x.as<const uint16_t>();
    for (int64_t i = 0; i < x.numel; ++i) xf[i] = f16 ? ew::HalfToFloat(xp[i]) : ew::BF16ToFloat(xp[i]);
    Compute(xf.data(), yf.data(), pool);
    uint16_t* yp = y.as<uint16_t>();
    for (int64_t i = 0; i < y.numel; ++i) yp[i] = f16 ? ew::FloatToHalf(yf[i]) : ew::FloatToBF16(yf[i]);
  }

 private:
  Status SetAxes(const std::vector<int64_t>& axes) {
    const int64_t rank = static_cast<int64_t>(dims_.size());
    std::vector<char> mask(rank, 0);
    identity_ = false;
    if (axes.empty()) {
      if (noop_) {
        identity_ = true;
        return Status::Ok();
      }
      std::fill(mask.begin(), mask.end(), 1);
    }
    for (int64_t a : axes) {
      const int64_t ax = a < 0 ? a + rank : a;
      if (ax < 0 || ax >= rank || mask[ax]) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s axis %ld is out of range or repeated for rank %ld (node %s)", op_.c_str(), (long)a,
                          (long)rank, source_.c_str());
      }
      mask[ax] = 1;
    }
    geo_ = MakeGeometry(dims_, mask);
    return Status::Ok();
  }

  template <typename T>
  void Compute(const T* x, T* y, ThreadPool* pool) {
    using A = typename AccOf<T>::type;
    const int64_t nOut = geo_.nOut;
    std::vector<A> acc(nOut);
    auto fill = [&](A v) { std::fill(acc.begin(), acc.end(), v); };
    switch (kind_) {
      case Kind::Sum: case Kind::Mean: case Kind::LogSum:
        fill(0);
        Accumulate(x, acc.data(), geo_, pool, [](A& a, T v, int64_t) { a += v; });
        break;
      case Kind::L1:
        fill(0);
        Accumulate(x, acc.data(), geo_, pool, [](A& a, T v, int64_t) { a += v < 0 ? -A(v) : A(v); });
        break;
      case Kind::L2: case Kind::SumSquare:
        fill(0);
        Accumulate(x, acc.data(), geo_, pool, [](A& a, T v, int64_t) { a += A(v) * A(v); });
        break;
      case Kind::Prod:
        fill(1);
        Accumulate(x, acc.data(), geo_, pool, [](A& a, T v, int64_t) { a *= v; });
        break;
      case Kind::Max:
        fill(std::numeric_limits<T>::has_infinity ? -A(std::numeric_limits<T>::infinity()) : A(std::numeric_limits<T>::lowest()));
        Accumulate(x, acc.data(), geo_, pool, [](A& a, T v, int64_t) { if (v > a || v != v) a = v; });
        break;
      case Kind::Min:
        fill(std::numeric_limits<T>::has_infinity ? A(std::numeric_limits<T>::infinity()) : A(std::numeric_limits<T>::max()));
        Accumulate(x, acc.data(), geo_, pool, [](A& a, T v, int64_t) { if (v < a || v != v) a = v; });
        break;
      case Kind::LogSumExp: {
        std::vector<A> mx(nOut, -std::numeric_limits<A>::infinity());
        Accumulate(x, mx.data(), geo_, pool, [](A& a, T v, int64_t) { if (v > a) a = v; });
        for (auto& m : mx) if (!std::isfinite(static_cast<double>(m))) m = 0;
        fill(0);
        const A* mp = mx.data();
        Accumulate(x, acc.data(), geo_, pool, [mp](A& a, T v, int64_t o) { a += std::exp(A(v) - mp[o]); });
        for (int64_t o = 0; o < nOut; ++o) acc[o] = std::log(static_cast<double>(acc[o])) + mx[o];
        break;
      }
    }
    const double count = static_cast<double>(geo_.count);
    for (int64_t o = 0; o < nOut; ++o) {
      A v = acc[o];
      if (kind_ == Kind::Mean) v = std::is_floating_point<T>::value ? A(v / count) : A(v / std::max<int64_t>(1, geo_.count));
      else if (kind_ == Kind::L2) v = A(std::sqrt(static_cast<double>(v)));
      else if (kind_ == Kind::LogSum) v = A(std::log(static_cast<double>(v)));
      y[o] = static_cast<T>(v);
    }
  }

  Kind kind_ = Kind::Sum;
  DType dtype_ = DType::F32;
  std::vector<int64_t> dims_;
  bool noop_ = false, identity_ = false, axesKnown_ = false;
  Geometry geo_;
  std::string source_, op_;
};

// ---------------------------------------------------------------------------------------------
// ArgMax / ArgMin

class ArgKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx, bool isMax) {
    const KernelSpec& spec = ctx.spec;
    const Slot* sx = ctx.input(0);
    if (!sx || spec.outputs.size() != 1) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s needs an input and one output (node %s)", spec.op.c_str(), spec.source.c_str());
    if (sx->dtype != DType::F32 && sx->dtype != DType::F64 && sx->dtype != DType::I32 && sx->dtype != DType::I64) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s on %s is not supported by the cpu target (node %s)", spec.op.c_str(), DTypeName(sx->dtype),
                        spec.source.c_str());
    }
    const int64_t rank = static_cast<int64_t>(sx->shape.size());
    int64_t axis = spec.Int("axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s axis out of range (node %s)", spec.op.c_str(), spec.source.c_str());
    auto k = std::make_unique<ArgKernel>();
    k->isMax_ = isMax;
    k->last_ = spec.Int("select_last_index", 0) != 0;
    k->dtype_ = sx->dtype;
    for (int64_t i = 0; i < rank; ++i) (i < axis ? k->outer_ : i == axis ? k->n_ : k->inner_) *= sx->shape[i];
    if (k->n_ == 0) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s over an empty axis (node %s)", spec.op.c_str(), spec.source.c_str());
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) override {
    int64_t* y = out[0].as<int64_t>();
    switch (dtype_) {
      case DType::F32: Compute(in[0].as<float>(), y); break;
      case DType::F64: Compute(in[0].as<double>(), y); break;
      case DType::I32: Compute(in[0].as<int32_t>(), y); break;
      case DType::I64: Compute(in[0].as<int64_t>(), y); break;
      default: break;
    }
    return Status::Ok();
  }

 private:
  template <typename T>
  void Compute(const T* x, int64_t* y) const {
    for (int64_t o = 0; o < outer_; ++o) {
      for (int64_t j = 0; j < inner_; ++j) {
        const T* base = x + o * n_ * inner_ + j;
        T best = base[0];
        int64_t at = 0;
        for (int64_t k = 1; k < n_; ++k) {
          const T a = base[k * inner_];
          const bool better = isMax_ ? (a > best || (last_ && a == best)) : (a < best || (last_ && a == best));
          if (better) {
            best = a;
            at = k;
          }
        }
        y[o * inner_ + j] = at;
      }
    }
  }

  bool isMax_ = true, last_ = false;
  DType dtype_ = DType::F32;
  int64_t outer_ = 1, n_ = 1, inner_ = 1;
};

#define MCPC_REDUCE(name, kind) \
  MCPC_REGISTER_KERNEL(name, [](const PrepareContext& ctx) { return ReduceKernel::Create(ctx, Kind::kind); })
MCPC_REDUCE("ReduceSum", Sum);
MCPC_REDUCE("ReduceMean", Mean);
MCPC_REDUCE("ReduceMax", Max);
MCPC_REDUCE("ReduceMin", Min);
MCPC_REDUCE("ReduceProd", Prod);
MCPC_REDUCE("ReduceL1", L1);
MCPC_REDUCE("ReduceL2", L2);
MCPC_REDUCE("ReduceLogSum", LogSum);
MCPC_REDUCE("ReduceLogSumExp", LogSumExp);
MCPC_REDUCE("ReduceSumSquare", SumSquare);
#undef MCPC_REDUCE
MCPC_REGISTER_KERNEL("ArgMax", [](const PrepareContext& ctx) { return ArgKernel::Create(ctx, true); });
MCPC_REGISTER_KERNEL("ArgMin", [](const PrepareContext& ctx) { return ArgKernel::Create(ctx, false); });

}  // namespace
}  // namespace mcpc
