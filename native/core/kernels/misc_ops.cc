// Small ops without a family of their own: Hardmax, SwiGLU (rounded step by step like
// the numpy reference, so f16 matches), and the index-remapping copies CenterCropPad and
// ReverseSequence (any dtype, moved as bytes).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "elementwise.h"

namespace mcpc {
namespace ew {
namespace {

using Ints = std::vector<int64_t>;

Ints RowMajorStrides(const Ints& dims) {
  Ints st(dims.size(), 1);
  for (size_t k = dims.size(); k-- > 1;) st[k - 1] = st[k] * dims[k];
  return st;
}

// ---------------------------------------------------------------------------------------------
// Hardmax: 1 at the first maximum along the axis, 0 elsewhere.

StatusOr<std::unique_ptr<Kernel>> MakeHardmax(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs an input");
  if (!(Bit(x->dtype) & kFloatTypes)) return Unsupported(spec, x->dtype);
  const Ints dims = x->shape;
  const int64_t rank = static_cast<int64_t>(dims.size());
  int64_t axis = spec.Int("axis", -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return BadPlan(spec, "axis out of range");
  const int64_t outer = Numel(Ints(dims.begin(), dims.begin() + axis)), n = dims[axis];
  const int64_t inner = Numel(Ints(dims.begin() + axis + 1, dims.end()));
  RunFn fn;
  VisitDType(x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (kIsFloat<T>) {
      fn = [=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
        const T* v = in[0].as<const T>();
        T* y = out[0].as<T>();
        const T zero = FromDouble<T>(0.0), one = FromDouble<T>(1.0);
        for (int64_t i = 0; i < outer * n * inner; ++i) y[i] = zero;
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t j = 0; j < inner; ++j) {
            const int64_t base = o * n * inner + j;
            double mx = -INFINITY;
            int64_t at = 0;
            for (int64_t k = 0; k < n; ++k) {
              const double a = ToDouble(v[base + k * inner]);
              if (a > mx) {
                mx = a;
                at = k;
              }
            }
            if (n > 0) y[base + at * inner] = one;
          }
        }
        return Status::Ok();
      };
    }
  });
  return MakeKernel(fn);
}

// ---------------------------------------------------------------------------------------------
// SwiGLU: a * sigmoid(alpha * a) * b, each step rounded to the dtype.

StatusOr<std::unique_ptr<Kernel>> MakeSwiGlu(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* a = ctx.input(0);
  const Slot* b = ctx.input(1);
  if (!a || !b) return BadPlan(spec, "needs two inputs");
  if (!(Bit(a->dtype) & kFloatTypes) || b->dtype != a->dtype) return Unsupported(spec, a->dtype);
  if (a->shape != b->shape) return BadPlan(spec, "inputs must have identical shapes");
  const double alpha = spec.Float("alpha", 1.0);
  const int64_t n = Numel(a->shape);
  RunFn fn;
  VisitDType(a->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same<T, float>::value) {
      fn = [=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
        const float* av = in[0].as<const float>();
        const float* bv = in[1].as<const float>();
        float* y = out[0].as<float>();
        const float al = static_cast<float>(alpha);
        ParallelRange(rc, n, kGrain, [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i) {
            const float x = av[i];
            y[i] = x * (1.0f / (1.0f + std::exp(-al * x))) * bv[i];
          }
        });
        return Status::Ok();
      };
    } else if constexpr (kIsFloat<T>) {
      fn = [=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
        const T* av = in[0].as<const T>();
        const T* bv = in[1].as<const T>();
        T* y = out[0].as<T>();
        auto r = [](double v) { return ToDouble(FromDouble<T>(v)); };
        for (int64_t i = 0; i < n; ++i) {
          const double x = ToDouble(av[i]);
          y[i] = FromDouble<T>(r(x * r(1 / r(1 + r(std::exp(r(-alpha * x)))))) * ToDouble(bv[i]));
        }
        return Status::Ok();
      };
    }
  });
  return MakeKernel(fn);
}

// ---------------------------------------------------------------------------------------------
// Index-remapping copies: out[i] = in[src(i)] or zero where src(i) < 0.

template <class Src>
void GatherBytes(size_t esize, const void* in, void* out, const Ints& outDims, Src src) {
  const int64_t n = Numel(outDims);
  const size_t r = outDims.size();
  Ints idx(r, 0);
  const uint8_t* s = static_cast<const uint8_t*>(in);
  uint8_t* d = static_cast<uint8_t*>(out);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t f = src(idx);
    if (f < 0) std::memset(d + i * esize, 0, esize);
    else std::memcpy(d + i * esize, s + f * esize, esize);
    for (size_t k = r; k-- > 0;) {
      if (++idx[k] < outDims[k]) break;
      idx[k] = 0;
    }
  }
}

/** CenterCropPad: the output slot's shape is the target; crop or zero-pad each axis around its center. */
StatusOr<std::unique_ptr<Kernel>> MakeCenterCropPad(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs an input");
  const Ints inDims = x->shape, outDims = ctx.output(0)->shape;
  if (inDims.size() != outDims.size()) return BadPlan(spec, "output rank differs from input rank");
  Ints off(inDims.size());
  for (size_t k = 0; k < inDims.size(); ++k) {
    const int64_t d = inDims[k], t = outDims[k];
    off[k] = d >= t ? (d - t) / 2 : -((t - d) / 2);
  }
  const Ints st = RowMajorStrides(inDims);
  const size_t esize = DTypeSize(x->dtype);
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    GatherBytes(esize, in[0].data, out[0].data, outDims, [&](const Ints& idx) -> int64_t {
      int64_t f = 0;
      for (size_t k = 0; k < idx.size(); ++k) {
        const int64_t j = idx[k] + off[k];
        if (j < 0 || j >= inDims[k]) return -1;
        f += j * st[k];
      }
      return f;
    });
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeReverseSequence(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* l = ctx.input(1);
  if (!x || !l) return BadPlan(spec, "needs input and sequence_lens");
  const int64_t tAxis = spec.Int("time_axis", 0), bAxis = spec.Int("batch_axis", 1);
  if (x->shape.size() < 2 || tAxis < 0 || tAxis > 1 || bAxis < 0 || bAxis > 1 || tAxis == bAxis) {
    return BadPlan(spec, "time_axis and batch_axis must be 0 and 1 in some order");
  }
  const Ints dims = x->shape;
  const Ints st = RowMajorStrides(dims);
  const size_t esize = DTypeSize(x->dtype);
  const int64_t nb = dims[bAxis];
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const Ints lens = ReadInts(in[1].data, in[1].dtype, std::min<int64_t>(nb, in[1].numel));
    GatherBytes(esize, in[0].data, out[0].data, dims, [&](const Ints& idx) -> int64_t {
      const int64_t b = idx[bAxis];
      const int64_t len = b < static_cast<int64_t>(lens.size()) ? lens[b] : 0;
      const int64_t ti = idx[tAxis];
      const int64_t src = ti < len ? len - 1 - ti : ti;
      int64_t f = 0;
      for (size_t k = 0; k < idx.size(); ++k) f += (static_cast<int64_t>(k) == tAxis ? src : idx[k]) * st[k];
      return f;
    });
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("Hardmax", MakeHardmax);
MCPC_REGISTER_KERNEL("SwiGLU", MakeSwiGlu);
MCPC_REGISTER_KERNEL("CenterCropPad", MakeCenterCropPad);
MCPC_REGISTER_KERNEL("ReverseSequence", MakeReverseSequence);

}  // namespace
}  // namespace ew
}  // namespace mcpc
