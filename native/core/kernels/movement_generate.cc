// Ops that generate tensors from shapes and scalars: Shape, Size, ConstantOfShape, Range, EyeLike
// (compiler/ops/generation.ts). Output shapes are static, so only the values are computed here.
#include <algorithm>

#include "elementwise.h"

namespace mcpc {
namespace ew {
namespace {

StatusOr<std::unique_ptr<Kernel>> MakeShape(const PrepareContext& ctx) {
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(ctx.spec, "needs an input");
  const int64_t r = static_cast<int64_t>(x->shape.size());
  auto clamp = [r](int64_t v) { return std::min(std::max(v < 0 ? v + r : v, int64_t(0)), r); };
  const int64_t start = clamp(ctx.spec.Int("start", 0));
  const int64_t end = std::max(start, ctx.spec.has("end") ? clamp(ctx.spec.Int("end", r)) : r);
  const std::vector<int64_t> dims(x->shape.begin() + start, x->shape.begin() + end);
  return MakeKernel([dims](const std::vector<TensorView>&, const std::vector<TensorView>& out, RunContext&) {
    std::copy(dims.begin(), dims.end(), out[0].as<int64_t>());
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeSize(const PrepareContext& ctx) {
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(ctx.spec, "needs an input");
  const int64_t n = Numel(x->shape);
  return MakeKernel([n](const std::vector<TensorView>&, const std::vector<TensorView>& out, RunContext&) {
    out[0].as<int64_t>()[0] = n;
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeConstantOfShape(const PrepareContext& ctx) {
  const Slot* o = ctx.output(0);
  double value = 0;
  auto it = ctx.spec.attrs.find("value");
  if (it != ctx.spec.attrs.end() && !it->second.floats.empty()) value = it->second.floats[0];
  uint64_t bits = 0;
  VisitDType(o->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v = FromDouble<T>(value);
    std::memcpy(&bits, &v, sizeof(T));
  });
  const size_t es = DTypeSize(o->dtype);
  return MakeKernel([bits, es](const std::vector<TensorView>&, const std::vector<TensorView>& out, RunContext&) {
    VisitSize(es, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T v;
      std::memcpy(&v, &bits, sizeof(T));
      std::fill(out[0].as<T>(), out[0].as<T>() + out[0].numel, v);
    });
    return Status::Ok();
  });
}

/**
 * Range: a static output must get exactly its planned count from the inputs; a dynamic one (inputs
 * known only at run time) is resolved to the count the inputs give.
 */
StatusOr<std::unique_ptr<Kernel>> MakeRange(const PrepareContext& ctx) {
  const Slot* o = ctx.output(0);
  if (!(Bit(o->dtype) & kNumericTypes)) return Unsupported(ctx.spec, o->dtype);
  const std::string source = ctx.spec.source;
  const bool dynamic = o->dynamic != DynamicDims::Static;
  RunFn fn;
  VisitDType(o->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!kIsBool<T>) {
      fn = [source, dynamic](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) -> Status {
        double dstart = 0, ddelta = 0;
        int64_t istart = 0, idelta = 0, count = -1;
        if constexpr (kIsFloat<T>) {
          dstart = ReadDoubles(in[0].data, in[0].dtype, 1)[0];
          const double limit = ReadDoubles(in[1].data, in[1].dtype, 1)[0];
          ddelta = ReadDoubles(in[2].data, in[2].dtype, 1)[0];
          const double c = ddelta == 0 || std::isnan(dstart) || std::isnan(limit) || std::isnan(ddelta) ? -1 : std::max(std::ceil((limit - dstart) / ddelta), 0.0);
          count = c > 9e15 ? -2 : static_cast<int64_t>(c);
        } else {
          istart = ReadInts(in[0].data, in[0].dtype, 1)[0];
          const int64_t limit = ReadInts(in[1].data, in[1].dtype, 1)[0];
          idelta = ReadInts(in[2].data, in[2].dtype, 1)[0];
          if (idelta != 0) {
            const int64_t span = limit - istart;
            count = span == 0 || ((span > 0) != (idelta > 0)) ? 0 : (span + idelta + (idelta > 0 ? -1 : 1)) / idelta;
          }
        }
        T* dst = out[0].as<T>();
        int64_t n = out[0].numel;
        if (dynamic) {
          if (count < 0 || count > (int64_t{1} << 31)) {
            return MCPC_ERROR(MCPC_E_KERNEL, "Range (node %s): start, limit and delta give no valid element count (delta 0, NaN or over 2^31 elements)", source.c_str());
          }
          StatusOr<void*> where = rc.outputs ? rc.outputs->Resolve(0, {count}) : StatusOr<void*>(MCPC_ERROR(MCPC_E_KERNEL, "Range: no output resolver"));
          if (!where.ok()) return where.status();
          dst = static_cast<T*>(where.value());
          n = count;
        } else if (count != n) {
          return MCPC_ERROR(MCPC_E_KERNEL, "Range (node %s): the inputs give %lld elements, the plan expects %lld", source.c_str(), (long long)count, (long long)n);
        }
        if constexpr (kIsFloat<T>) {
          for (int64_t i = 0; i < n; ++i) dst[i] = FromDouble<T>(dstart + static_cast<double>(i) * ddelta);
        } else {
          for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(istart + i * idelta);
        }
        return Status::Ok();
      };
    }
  });
  return MakeKernel(std::move(fn));
}

StatusOr<std::unique_ptr<Kernel>> MakeEyeLike(const PrepareContext& ctx) {
  const Slot* o = ctx.output(0);
  if (o->shape.size() != 2) return BadPlan(ctx.spec, "needs a rank-2 input");
  const int64_t rows = o->shape[0], cols = o->shape[1], k = ctx.spec.Int("k", 0);
  uint64_t one = 0;
  VisitDType(o->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v = FromDouble<T>(1.0);
    std::memcpy(&one, &v, sizeof(T));
  });
  const size_t es = DTypeSize(o->dtype);
  return MakeKernel([=](const std::vector<TensorView>&, const std::vector<TensorView>& out, RunContext&) {
    char* dst = static_cast<char*>(out[0].data);
    std::memset(dst, 0, rows * cols * es);
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t j = i + k;
      if (j >= 0 && j < cols) std::memcpy(dst + (i * cols + j) * es, &one, es);
    }
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("Shape", MakeShape);
MCPC_REGISTER_KERNEL("Size", MakeSize);
MCPC_REGISTER_KERNEL("ConstantOfShape", MakeConstantOfShape);
MCPC_REGISTER_KERNEL("Range", MakeRange);
MCPC_REGISTER_KERNEL("EyeLike", MakeEyeLike);

}  // namespace
}  // namespace ew
}  // namespace mcpc
