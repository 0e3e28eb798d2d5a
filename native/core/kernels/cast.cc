// Cast and CastLike between every IR dtype (the target is the output slot's dtype). Semantics are
// the compiler's (compiler/ops/elementwise-cast.ts, ir/dtype.ts roundTo): floats to f16 round to
// nearest even once, f64 -> bf16 goes through f32 as the reference does, float -> integer truncates
// (i64 saturates, narrower types wrap, NaN/inf give 0), anything -> bool is "!= 0" with NaN true.
#include "elementwise.h"

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

StatusOr<std::unique_ptr<Kernel>> MakeCast(const PrepareContext& ctx) {
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(ctx.spec, "needs an input");
  const DType from = x->dtype;
  const DType to = ctx.output(0)->dtype;
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
