// The less common normalizations, any float dtype: RMSNormalization, LpNormalization,
// MeanVarianceNormalization and LRN. Statistics are taken in double and the result rounded once to
// the tensor dtype, as the compiler's reference (compiler/ops/normalization.ts) does; f32
// RMSNormalization with a per-position scale (the LLM case) has a float fast path.
#include <algorithm>
#include <cmath>
#include <vector>

#include "elementwise.h"

namespace mcpc {
namespace ew {
namespace {

using Ints = std::vector<int64_t>;

void StoreDoubles(const double* v, void* dst, DType t, int64_t n) {
  VisitDType(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = static_cast<T*>(dst);
    for (int64_t i = 0; i < n; ++i) p[i] = FromDouble<T>(v[i]);
  });
}

/** For each element of `full`, the flat index of the element of `t` (right-aligned, broadcast) it reads. */
Ints BroadcastOffsets(const Ints& t, const Ints& full) {
  const size_t r = full.size(), off = r - t.size();
  Ints st(r, 0);
  int64_t s = 1;
  for (size_t k = t.size(); k-- > 0;) {
    st[off + k] = t[k] == 1 ? 0 : s;
    s *= t[k];
  }
  const int64_t n = Numel(full);
  Ints idx(n);
  Ints ctr(r, 0);
  int64_t cur = 0;
  for (int64_t i = 0; i < n; ++i) {
    idx[i] = cur;
    for (size_t k = r; k-- > 0;) {
      cur += st[k];
      if (++ctr[k] < full[k]) break;
      cur -= st[k] * full[k];
      ctr[k] = 0;
    }
  }
  return idx;
}

bool IsFloatSlot(const Slot* s) { return s && (Bit(s->dtype) & kFloatTypes); }

int64_t NormAxis(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

// ---------------------------------------------------------------------------------------------
// RMSNormalization: y = x / sqrt(mean(x^2 over axes >= axis) + eps) * scale

StatusOr<std::unique_ptr<Kernel>> MakeRmsNorm(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* sc = ctx.input(1);
  if (!x || !sc) return BadPlan(spec, "needs X and scale");
  if (!IsFloatSlot(x) || !IsFloatSlot(sc)) return Unsupported(spec, x->dtype);
  const Ints dims = x->shape;
  const int64_t rank = static_cast<int64_t>(dims.size());
  const int64_t axis = NormAxis(spec.Int("axis", -1), rank);
  if (axis < 0 || axis >= rank) return BadPlan(spec, "axis out of range");
  if (sc->shape.size() > dims.size()) return BadPlan(spec, "scale has a higher rank than X");
  const int64_t outer = Numel(Ints(dims.begin(), dims.begin() + axis));
  const int64_t inner = Numel(Ints(dims.begin() + axis, dims.end()));
  const double eps = spec.Float("epsilon", 1e-5);
  // Scale indexed per position of the normalized block when its shape is a suffix of X's.
  bool perInner = Numel(sc->shape) == inner;
  for (size_t k = 0; perInner && k < sc->shape.size(); ++k) perInner = sc->shape[k] == dims[dims.size() - sc->shape.size() + k];
  Ints offsets;
  if (!perInner) offsets = BroadcastOffsets(sc->shape, dims);
  const DType xt = x->dtype, st = sc->dtype;
  const int64_t scN = Numel(sc->shape);
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
    if (xt == DType::F32 && st == DType::F32 && perInner) {
      const float* xv = in[0].as<const float>();
      const float* s = in[1].as<const float>();
      float* y = out[0].as<float>();
      ParallelRange(rc, outer, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, inner)), [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o) {
          const float* xr = xv + o * inner;
          float* yr = y + o * inner;
          double sq = 0;
          for (int64_t j = 0; j < inner; ++j) sq += static_cast<double>(xr[j]) * xr[j];
          const double inv = 1.0 / std::sqrt(sq / inner + eps);
          for (int64_t j = 0; j < inner; ++j) yr[j] = static_cast<float>(xr[j] * inv * s[j]);
        }
      });
      return Status::Ok();
    }
    const std::vector<double> v = ReadDoubles(in[0].data, xt, outer * inner);
    const std::vector<double> s = ReadDoubles(in[1].data, st, scN);
    std::vector<double> r(v.size());
    for (int64_t o = 0; o < outer; ++o) {
      const double* xr = v.data() + o * inner;
      double sq = 0;
      for (int64_t j = 0; j < inner; ++j) sq += xr[j] * xr[j];
      const double inv = 1.0 / std::sqrt(sq / inner + eps);
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t i = o * inner + j;
        r[i] = xr[j] * inv * s[perInner ? j : offsets[i]];
      }
    }
    StoreDoubles(r.data(), out[0].data, xt, outer * inner);
    return Status::Ok();
  });
}

// ---------------------------------------------------------------------------------------------
// LpNormalization: x / ||x||_p along one axis (p = 1 or 2); a zero vector stays zero.

StatusOr<std::unique_ptr<Kernel>> MakeLpNorm(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs an input");
  if (!IsFloatSlot(x)) return Unsupported(spec, x->dtype);
  const Ints dims = x->shape;
  const int64_t rank = static_cast<int64_t>(dims.size());
  const int64_t axis = NormAxis(spec.Int("axis", -1), rank);
  const int64_t p = spec.Int("p", 2);
  if (axis < 0 || axis >= rank) return BadPlan(spec, "axis out of range");
  if (p != 1 && p != 2) return BadPlan(spec, "p must be 1 or 2");
  const int64_t outer = Numel(Ints(dims.begin(), dims.begin() + axis)), n = dims[axis];
  const int64_t inner = Numel(Ints(dims.begin() + axis + 1, dims.end()));
  const DType t = x->dtype;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const std::vector<double> v = ReadDoubles(in[0].data, t, outer * n * inner);
    std::vector<double> r(v.size(), 0.0);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t b = o * n * inner + j;
        double acc = 0;
        for (int64_t k = 0; k < n; ++k) {
          const double a = v[b + k * inner];
          acc += p == 1 ? std::fabs(a) : a * a;
        }
        const double norm = p == 1 ? acc : std::sqrt(acc);
        if (norm != 0) for (int64_t k = 0; k < n; ++k) r[b + k * inner] = v[b + k * inner] / norm;
      }
    }
    StoreDoubles(r.data(), out[0].data, t, static_cast<int64_t>(r.size()));
    return Status::Ok();
  });
}

// ---------------------------------------------------------------------------------------------
// MeanVarianceNormalization: (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9) over `axes`.

StatusOr<std::unique_ptr<Kernel>> MakeMvn(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs an input");
  if (!IsFloatSlot(x)) return Unsupported(spec, x->dtype);
  const Ints dims = x->shape;
  const int64_t rank = static_cast<int64_t>(dims.size());
  std::vector<bool> mask(rank, false);
  for (int64_t a : spec.Ints("axes", {0, 2, 3})) {
    a = NormAxis(a, rank);
    if (a < 0 || a >= rank) return BadPlan(spec, "axes out of range");
    mask[a] = true;
  }
  // Flat index of each element's statistics slot (the kept dims, row-major).
  const int64_t n = Numel(dims);
  Ints slot(n);
  int64_t nOut = 1;
  {
    Ints st(rank, 0);
    for (int64_t k = rank - 1; k >= 0; --k) {
      if (!mask[k]) {
        st[k] = nOut;
        nOut *= dims[k];
      }
    }
    Ints ctr(rank, 0);
    int64_t cur = 0;
    for (int64_t i = 0; i < n; ++i) {
      slot[i] = cur;
      for (int64_t k = rank - 1; k >= 0; --k) {
        cur += st[k];
        if (++ctr[k] < dims[k]) break;
        cur -= st[k] * dims[k];
        ctr[k] = 0;
      }
    }
  }
  const DType t = x->dtype;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const std::vector<double> v = ReadDoubles(in[0].data, t, n);
    const double count = static_cast<double>(n) / std::max<int64_t>(nOut, 1);
    std::vector<double> sum(nOut, 0.0), sq(nOut, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      sum[slot[i]] += v[i];
      sq[slot[i]] += v[i] * v[i];
    }
    for (int64_t o = 0; o < nOut; ++o) {
      sum[o] /= count;
      sq[o] = std::sqrt(sq[o] / count - sum[o] * sum[o]) + 1e-9;
    }
    std::vector<double> r(n);
    for (int64_t i = 0; i < n; ++i) r[i] = (v[i] - sum[slot[i]]) / sq[slot[i]];
    StoreDoubles(r.data(), out[0].data, t, n);
    return Status::Ok();
  });
}

// ---------------------------------------------------------------------------------------------
// LRN: x / (bias + alpha/size * sum of squares over a window of channels)^beta

StatusOr<std::unique_ptr<Kernel>> MakeLrn(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs an input");
  if (!IsFloatSlot(x)) return Unsupported(spec, x->dtype);
  if (x->shape.size() < 3) return BadPlan(spec, "input must have rank >= 3");
  const int64_t size = spec.Int("size", 0);
  if (size < 1) return BadPlan(spec, "size must be positive");
  const double alpha = spec.Float("alpha", 1e-4) / size, beta = spec.Float("beta", 0.75), bias = spec.Float("bias", 1);
  const int64_t N = x->shape[0], C = x->shape[1];
  const int64_t inner = Numel(Ints(x->shape.begin() + 2, x->shape.end()));
  const int64_t before = (size - 1) / 2, after = size / 2;  // floor and ceil of (size-1)/2
  const DType t = x->dtype;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const std::vector<double> v = ReadDoubles(in[0].data, t, N * C * inner);
    std::vector<double> r(v.size());
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t c = 0; c < C; ++c) {
        const int64_t lo = std::max<int64_t>(0, c - before), hi = std::min<int64_t>(C - 1, c + after);
        const int64_t b = (n * C + c) * inner;
        for (int64_t j = 0; j < inner; ++j) {
          double sq = 0;
          for (int64_t cc = lo; cc <= hi; ++cc) {
            const double a = v[(n * C + cc) * inner + j];
            sq += a * a;
          }
          r[b + j] = v[b + j] / std::pow(bias + alpha * sq, beta);
        }
      }
    }
    StoreDoubles(r.data(), out[0].data, t, static_cast<int64_t>(r.size()));
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("RMSNormalization", MakeRmsNorm);
MCPC_REGISTER_KERNEL("LpNormalization", MakeLpNorm);
MCPC_REGISTER_KERNEL("MeanVarianceNormalization", MakeMvn);
MCPC_REGISTER_KERNEL("LRN", MakeLrn);

}  // namespace
}  // namespace ew
}  // namespace mcpc
