// Cast and CastLike between every IR dtype (the target is the output slot's dtype). Semantics are
// the compiler's (compiler/ops/elementwise-cast.ts, ir/dtype.ts roundTo): floats to f16 round to
// nearest even once, f64 -> bf16 goes through f32 as the reference does, float -> integer truncates
// (i64 saturates, narrower types wrap, NaN/inf give 0), anything -> bool is "!= 0" with NaN true.
// Low-precision types (float8, f8e8m0, f4e2m1, 4- and 2-bit integers, lowp.h) go through their
// exact float64 values: a low-precision source is decoded and stored as any float64 would be, a
// low-precision target encodes the source's value with the cast's `saturate` and `round_mode`.
#include "elementwise.h"
#include "lowp.h"

namespace mcpc {
namespace ew {
namespace {

template <class S, class D> inline D Convert(S v) {
  if constexpr (std::is_same<S, D>::value) {
    return v;
  } else if constexpr (kIsBool<D>) {
    if constexpr (kIsFloat<S>) return ToDouble(v) != 0;  // NaN != 0 is true
    else return v != 0;
  } else if constexpr (!kIsFloat<S> && !kIsFloat<D>) {
    return static_cast<D>(v);  // integer/bool to integer: two's complement wrap
  } else if constexpr (kIsFloat<D>) {
    if constexpr (std::is_same<S, float>::value || std::is_same<S, Half>::value || std::is_same<S, BFloat16>::value) {
      const float f = static_cast<float>(ToDouble(v));  // exact
      if constexpr (std::is_same<D, Half>::value) return Half{FloatToHalf(f)};
      else if constexpr (std::is_same<D, BFloat16>::value) return BFloat16{FloatToBF16(f)};
      else return static_cast<D>(f);
    } else {
      return FromDouble<D>(ToDouble(v));
    }
  } else {
    return FromDouble<D>(ToDouble(v));  // float to integer
  }
}

/** Casts from or to a low-precision type, element by element through float64. */
RunFn MakeLowpCast(DType from, DType to, bool saturate, lowp::RoundMode mode) {
  return [=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) -> Status {
    const int64_t n = in[0].numel;
    if (from == to) {
      if (in[0].data != out[0].data) std::memcpy(out[0].data, in[0].data, ByteLength(from, static_cast<uint64_t>(n)));
      return Status::Ok();
    }
    std::vector<double> values;
    if (IsLowPrecision(from)) {
      values = lowp::ReadValues(in[0].data, from, n);
    } else {
      values.resize(static_cast<size_t>(n));
      VisitDType(from, [&](auto ts) {
        using S = typename decltype(ts)::type;
        const S* src = in[0].as<const S>();
        for (int64_t i = 0; i < n; ++i) values[i] = ToDouble(src[i]);
      });
    }
    if (IsLowPrecision(to)) {
      std::vector<uint8_t> codes(static_cast<size_t>(n));
      ParallelRange(rc, n, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) codes[i] = lowp::Encode(to, values[i], saturate, mode);
      });
      lowp::WriteCodes(out[0].data, to, codes.data(), n);
    } else {
      VisitDType(to, [&](auto td) {
        using D = typename decltype(td)::type;
        D* dst = out[0].as<D>();
        for (int64_t i = 0; i < n; ++i) {
          if constexpr (kIsBool<D>) dst[i] = values[i] != 0;  // NaN is true
          else dst[i] = FromDouble<D>(values[i]);
        }
      });
    }
    return Status::Ok();
  };
}

StatusOr<std::unique_ptr<Kernel>> MakeCast(const PrepareContext& ctx) {
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(ctx.spec, "needs an input");
  const DType from = x->dtype;
  const DType to = ctx.output(0)->dtype;
  if (IsLowPrecision(from) || IsLowPrecision(to)) {
    lowp::RoundMode mode;
    const std::string roundMode = ctx.spec.String("round_mode", "up");
    if (!lowp::ParseRoundMode(roundMode, &mode)) return BadPlan(ctx.spec, "round_mode must be 'up', 'down' or 'nearest', got '" + roundMode + "'");
    return MakeKernel(MakeLowpCast(from, to, ctx.spec.Int("saturate", 1) != 0, mode));
  }
  RunFn fn;
  VisitDType(from, [&](auto ts) {
    using S = typename decltype(ts)::type;
    VisitDType(to, [&](auto td) {
      using D = typename decltype(td)::type;
      fn = [](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
        const S* src = in[0].as<const S>();
        D* dst = out[0].as<D>();
        if constexpr (std::is_same<S, D>::value) {
          if (static_cast<const void*>(src) != static_cast<void*>(dst)) std::memcpy(dst, src, in[0].numel * sizeof(S));
          return Status::Ok();
        }
        ParallelRange(rc, in[0].numel, kGrain, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) dst[i] = Convert<S, D>(src[i]);
        });
        return Status::Ok();
      };
    });
  });
  return MakeKernel(std::move(fn));
}

MCPC_REGISTER_KERNEL("Cast", MakeCast);
MCPC_REGISTER_KERNEL("CastLike", MakeCast);

}  // namespace
}  // namespace ew
}  // namespace mcpc
