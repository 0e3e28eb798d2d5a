// Index-driven data movement: Gather, GatherElements, GatherND, ScatterND, ScatterElements, OneHot,
// TopK, CumSum and CumProd (compiler/ops/indexing.ts, reduction.ts, math-extra.ts). Negative indices count from the end of
// their axis; an index out of range fails the run with MCPC_E_KERNEL naming the node, never reads
// or writes out of bounds.
#include <algorithm>
#include <numeric>

#include "elementwise.h"

namespace mcpc {
namespace ew {
namespace {

using Ints = std::vector<int64_t>;

Ints StridesOf(const Ints& dims) {
  Ints s(dims.size());
  int64_t acc = 1;
  for (int k = static_cast<int>(dims.size()) - 1; k >= 0; --k) { s[k] = acc; acc *= dims[k]; }
  return s;
}

Status IndexError(const std::string& op, const std::string& source, int64_t i, int64_t dim) {
  return MCPC_ERROR(MCPC_E_KERNEL, "%s (node %s): index %lld is out of range for axis size %lld", op.c_str(), source.c_str(), (long long)i, (long long)dim);
}

/** Index i of an axis of size dim, negative from the end; -1 when out of range. */
inline int64_t FixIndex(int64_t i, int64_t dim) {
  const int64_t j = i < 0 ? i + dim : i;
  return j < 0 || j >= dim ? -1 : j;
}

Status CheckIndexType(const KernelSpec& spec, const Slot* s) {
  if (!s || (s->dtype != DType::I64 && s->dtype != DType::I32)) return Unsupported(spec, s ? s->dtype : DType::F32, "indices");
  return Status::Ok();
}

// ---- Gather ----------------------------------------------------------------------------------

StatusOr<std::unique_ptr<Kernel>> MakeGather(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs data");
  MCPC_RETURN_IF_ERROR(CheckIndexType(spec, ctx.input(1)));
  const int64_t r = static_cast<int64_t>(x->shape.size());
  int64_t axis = spec.Int("axis", 0);
  axis = axis < 0 ? axis + r : axis;
  if (axis < 0 || axis >= r) return BadPlan(spec, "axis out of range");
  const int64_t outer = Numel(Ints(x->shape.begin(), x->shape.begin() + axis));
  const int64_t n = x->shape[axis];
  const int64_t bytes = Numel(Ints(x->shape.begin() + axis + 1, x->shape.end())) * static_cast<int64_t>(DTypeSize(x->dtype));
  const std::string op = spec.op, source = spec.source;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
    const int64_t m = in[1].numel;
    Ints idx = ReadInts(in[1].data, in[1].dtype, m);
    for (int64_t& i : idx) {
      const int64_t j = FixIndex(i, n);
      if (j < 0) return IndexError(op, source, i, n);
      i = j;
    }
    const char* src = static_cast<const char*>(in[0].data);
    char* dst = static_cast<char*>(out[0].data);
    ParallelRange(rc, outer * m, std::max<int64_t>(1, kGrain * 4 / std::max<int64_t>(bytes, 1)), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / m, j = t % m;
        std::memcpy(dst + t * bytes, src + (o * n + idx[j]) * bytes, bytes);
      }
    });
    return Status::Ok();
  });
}

// ---- GatherElements / ScatterElements ---------------------------------------------------------

/** Calls fn(flat index in `dims`, offset in `strides` with the axis coordinate left out) in order. */
template <class F> void ForEachOffset(const Ints& dims, const Ints& strides, int64_t axis, F&& fn) {
  const int r = static_cast<int>(dims.size());
  const int64_t total = Numel(dims);
  Ints idx(r, 0);
  int64_t off = 0;
  for (int64_t flat = 0; flat < total; ++flat) {
    if (!fn(flat, off)) return;
    for (int k = r - 1; k >= 0; --k) {
      if (k != axis) off += strides[k];
      if (++idx[k] < dims[k]) break;
      if (k != axis) off -= strides[k] * dims[k];
      idx[k] = 0;
    }
  }
}

StatusOr<std::unique_ptr<Kernel>> MakeGatherElements(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs data");
  MCPC_RETURN_IF_ERROR(CheckIndexType(spec, ctx.input(1)));
  const Ints dims = x->shape, idims = ctx.input(1)->shape;
  const int64_t r = static_cast<int64_t>(dims.size());
  int64_t axis = spec.Int("axis", 0);
  axis = axis < 0 ? axis + r : axis;
  if (axis < 0 || axis >= r || static_cast<int64_t>(idims.size()) != r) return BadPlan(spec, "bad axis or indices rank");
  const Ints st = StridesOf(dims);
  const std::string op = spec.op, source = spec.source;
  const size_t es = DTypeSize(x->dtype);
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const Ints idx = ReadInts(in[1].data, in[1].dtype, in[1].numel);
    Status status;
    VisitSize(es, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = in[0].as<const T>();
      T* dst = out[0].as<T>();
      ForEachOffset(idims, st, axis, [&](int64_t flat, int64_t off) {
        const int64_t j = FixIndex(idx[flat], dims[axis]);
        if (j < 0) { status = IndexError(op, source, idx[flat], dims[axis]); return false; }
        dst[flat] = src[off + j * st[axis]];
        return true;
      });
    });
    return status;
  });
}

enum class Reduction { None, Add, Mul, Max, Min };

bool ParseReduction(const std::string& s, Reduction* r) {
  if (s == "none") *r = Reduction::None;
  else if (s == "add") *r = Reduction::Add;
  else if (s == "mul") *r = Reduction::Mul;
  else if (s == "max") *r = Reduction::Max;
  else if (s == "min") *r = Reduction::Min;
  else return false;
  return true;
}

template <class T> inline T Reduce(Reduction r, T a, T b) {
  if constexpr (kIsBool<T>) {
    switch (r) {
      case Reduction::Add: case Reduction::Max: return a || b;
      case Reduction::Mul: case Reduction::Min: return a && b;
      default: return b;
    }
  } else {
    using Tr = Traits<T>;
    const auto x = Tr::Load(a), y = Tr::Load(b);
    switch (r) {
      case Reduction::Add: return Tr::Store(static_cast<decltype(x)>(x + y));
      case Reduction::Mul: return Tr::Store(static_cast<decltype(x)>(x * y));
      case Reduction::Max: return Tr::Store(x != x || y != y ? x + y : (x > y ? x : y));
      case Reduction::Min: return Tr::Store(x != x || y != y ? x + y : (x < y ? x : y));
      default: return b;
    }
  }
}

StatusOr<std::unique_ptr<Kernel>> MakeScatterElements(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x || !ctx.input(2)) return BadPlan(spec, "needs data, indices and updates");
  MCPC_RETURN_IF_ERROR(CheckIndexType(spec, ctx.input(1)));
  Reduction red;
  if (!ParseReduction(spec.String("reduction", "none"), &red)) return BadPlan(spec, "unknown reduction");
  const Ints dims = x->shape, idims = ctx.input(1)->shape;
  const int64_t r = static_cast<int64_t>(dims.size());
  int64_t axis = spec.Int("axis", 0);
  axis = axis < 0 ? axis + r : axis;
  if (axis < 0 || axis >= r || static_cast<int64_t>(idims.size()) != r) return BadPlan(spec, "bad axis or indices rank");
  const Ints st = StridesOf(dims);
  const std::string op = spec.op, source = spec.source;
  RunFn fn;
  VisitDType(x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    fn = [=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
      const Ints idx = ReadInts(in[1].data, in[1].dtype, in[1].numel);
      const T* upd = in[2].as<const T>();
      T* dst = out[0].as<T>();
      if (in[0].data != out[0].data) std::memcpy(dst, in[0].data, in[0].numel * sizeof(T));
      Status status;
      ForEachOffset(idims, st, axis, [&](int64_t flat, int64_t off) {
        const int64_t j = FixIndex(idx[flat], dims[axis]);
        if (j < 0) { status = IndexError(op, source, idx[flat], dims[axis]); return false; }
        T& d = dst[off + j * st[axis]];
        d = Reduce(red, d, upd[flat]);
        return true;
      });
      return status;
    };
  });
  return MakeKernel(std::move(fn));
}

// ---- GatherND / ScatterND ----------------------------------------------------------------------

StatusOr<std::unique_ptr<Kernel>> MakeGatherND(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs data");
  MCPC_RETURN_IF_ERROR(CheckIndexType(spec, ctx.input(1)));
  const Ints dims = x->shape, idims = ctx.input(1)->shape;
  const int64_t b = spec.Int("batch_dims", 0);
  if (idims.empty()) return BadPlan(spec, "indices must have rank >= 1");
  const int64_t m = idims.back();
  if (b < 0 || b + m > static_cast<int64_t>(dims.size()) || b >= static_cast<int64_t>(idims.size())) return BadPlan(spec, "bad batch_dims or index length");
  const Ints st = StridesOf(dims);
  const int64_t sliceBytes = Numel(Ints(dims.begin() + b + m, dims.end())) * static_cast<int64_t>(DTypeSize(x->dtype));
  const int64_t batchStride = Numel(Ints(dims.begin() + b, dims.end()));
  const int64_t perBatch = Numel(Ints(idims.begin() + b, idims.end() - 1));
  const size_t es = DTypeSize(x->dtype);
  const std::string op = spec.op, source = spec.source;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const Ints idx = ReadInts(in[1].data, in[1].dtype, in[1].numel);
    const int64_t tuples = m ? in[1].numel / m : Numel(Ints(idims.begin(), idims.end() - 1));
    const char* src = static_cast<const char*>(in[0].data);
    char* dst = static_cast<char*>(out[0].data);
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t off = (perBatch ? t / perBatch : 0) * batchStride;
      for (int64_t k = 0; k < m; ++k) {
        const int64_t j = FixIndex(idx[t * m + k], dims[b + k]);
        if (j < 0) return IndexError(op, source, idx[t * m + k], dims[b + k]);
        off += j * st[b + k];
      }
      std::memcpy(dst + t * sliceBytes, src + off * static_cast<int64_t>(es), sliceBytes);
    }
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeScatterND(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x || !ctx.input(2)) return BadPlan(spec, "needs data, indices and updates");
  MCPC_RETURN_IF_ERROR(CheckIndexType(spec, ctx.input(1)));
  Reduction red;
  if (!ParseReduction(spec.String("reduction", "none"), &red)) return BadPlan(spec, "unknown reduction");
  const Ints dims = x->shape, idims = ctx.input(1)->shape;
  if (idims.empty() || idims.back() > static_cast<int64_t>(dims.size())) return BadPlan(spec, "bad index tuple length");
  const int64_t m = idims.back();
  const Ints st = StridesOf(dims);
  const int64_t slice = Numel(Ints(dims.begin() + m, dims.end()));
  const std::string op = spec.op, source = spec.source;
  RunFn fn;
  VisitDType(x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    fn = [=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
      const Ints idx = ReadInts(in[1].data, in[1].dtype, in[1].numel);
      const T* upd = in[2].as<const T>();
      T* dst = out[0].as<T>();
      if (in[0].data != out[0].data) std::memcpy(dst, in[0].data, in[0].numel * sizeof(T));
      const int64_t tuples = m ? in[1].numel / m : 1;
      for (int64_t t = 0; t < tuples; ++t) {
        int64_t off = 0;
        for (int64_t k = 0; k < m; ++k) {
          const int64_t j = FixIndex(idx[t * m + k], dims[k]);
          if (j < 0) return IndexError(op, source, idx[t * m + k], dims[k]);
          off += j * st[k];
        }
        for (int64_t e = 0; e < slice; ++e) dst[off + e] = Reduce(red, dst[off + e], upd[t * slice + e]);
      }
      return Status::Ok();
    };
  });
  return MakeKernel(std::move(fn));
}

// ---- OneHot ----------------------------------------------------------------------------------

StatusOr<std::unique_ptr<Kernel>> MakeOneHot(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* ind = ctx.input(0);
  const Slot* o = ctx.output(0);
  if (!ind || !ctx.input(1) || !ctx.input(2)) return BadPlan(spec, "needs indices, depth and values");
  if (!(Bit(ind->dtype) & kNumericTypes)) return Unsupported(spec, ind->dtype, "indices");
  const int64_t r = static_cast<int64_t>(o->shape.size());
  int64_t axis = spec.Int("axis", -1);
  axis = axis < 0 ? axis + r : axis;
  if (axis < 0 || axis >= r) return BadPlan(spec, "axis out of range");
  const int64_t depth = o->shape[axis];
  const int64_t outer = Numel(Ints(o->shape.begin(), o->shape.begin() + axis));
  const int64_t inner = Numel(Ints(o->shape.begin() + axis + 1, o->shape.end()));
  const size_t es = DTypeSize(o->dtype);
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
    const std::vector<double> idx = ReadDoubles(in[0].data, in[0].dtype, in[0].numel);
    const char* vals = static_cast<const char*>(in[2].data);
    char* dst = static_cast<char*>(out[0].data);
    for (int64_t i = 0; i < out[0].numel; ++i) std::memcpy(dst + i * es, vals, es);
    for (int64_t a = 0; a < outer; ++a) {
      for (int64_t b = 0; b < inner; ++b) {
        double v = std::trunc(idx[a * inner + b]);
        if (v < 0) v += static_cast<double>(depth);
        if (!(v >= 0 && v < static_cast<double>(depth))) continue;
        std::memcpy(dst + ((a * depth + static_cast<int64_t>(v)) * inner + b) * es, vals + es, es);
      }
    }
    return Status::Ok();
  });
}

// ---- TopK ------------------------------------------------------------------------------------

StatusOr<std::unique_ptr<Kernel>> MakeTopK(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(spec, "needs data");
  if (!(Bit(x->dtype) & kNumericTypes)) return Unsupported(spec, x->dtype);
  const int64_t r = static_cast<int64_t>(x->shape.size());
  int64_t axis = spec.Int("axis", -1);
  axis = axis < 0 ? axis + r : axis;
  if (axis < 0 || axis >= r) return BadPlan(spec, "axis out of range");
  const bool largest = spec.Int("largest", 1) != 0;
  const int64_t n = x->shape[axis], k = ctx.output(0)->shape[axis];
  if (k > n) return BadPlan(spec, "K exceeds the axis size");
  const int64_t outer = Numel(Ints(x->shape.begin(), x->shape.begin() + axis));
  const int64_t inner = Numel(Ints(x->shape.begin() + axis + 1, x->shape.end()));
  RunFn fn;
  VisitDType(x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!kIsBool<T>) {
      fn = [=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) {
        using C = typename Traits<T>::C;
        const T* src = in[0].as<const T>();
        T* vals = out[0].as<T>();
        int64_t* idxs = out.size() > 1 ? out[1].as<int64_t>() : nullptr;
        ParallelRange(rc, outer * inner, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
          std::vector<std::pair<C, int64_t>> col(n);
          for (int64_t t = b; t < e; ++t) {
            const int64_t o = t / inner, i = t % inner;
            for (int64_t j = 0; j < n; ++j) col[j] = {Traits<T>::Load(src[(o * n + j) * inner + i]), j};
            // Ties keep the lower index first; NaN counts as largest.
            auto before = [largest](const std::pair<C, int64_t>& a, const std::pair<C, int64_t>& c) {
              const bool an = a.first != a.first, cn = c.first != c.first;
              if (an || cn) return an != cn ? (largest ? an : cn) : a.second < c.second;
              if (a.first != c.first) return largest ? a.first > c.first : a.first < c.first;
              return a.second < c.second;
            };
            std::partial_sort(col.begin(), col.begin() + k, col.end(), before);
            for (int64_t j = 0; j < k; ++j) {
              const int64_t p = (o * k + j) * inner + i;
              vals[p] = src[(o * n + col[j].second) * inner + i];
              if (idxs) idxs[p] = col[j].second;
            }
          }
        });
        return Status::Ok();
      };
    }
  });
  if (!fn) return Unsupported(spec, x->dtype);
  return MakeKernel(std::move(fn));
}

// ---- CumSum, CumProd --------------------------------------------------------------------------

/** A running sum or product along the axis given by input 1; integers wrap, floats accumulate in double. */
template <bool kProduct>
StatusOr<std::unique_ptr<Kernel>> MakeScan(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const Slot* x = ctx.input(0);
  if (!x || !ctx.input(1)) return BadPlan(spec, "needs data and axis");
  if (!(Bit(x->dtype) & kNumericTypes)) return Unsupported(spec, x->dtype);
  const Ints dims = x->shape;
  const bool exclusive = spec.Int("exclusive", 0) != 0, reverse = spec.Int("reverse", 0) != 0;
  const std::string source = spec.source, op = spec.op;
  RunFn fn;
  VisitDType(x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!kIsBool<T>) {
      fn = [=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) {
        const int64_t r = static_cast<int64_t>(dims.size());
        int64_t axis = ReadInts(in[1].data, in[1].dtype, 1)[0];
        axis = axis < 0 ? axis + r : axis;
        if (axis < 0 || axis >= r) return MCPC_ERROR(MCPC_E_KERNEL, "%s (node %s): axis out of range", op.c_str(), source.c_str());
        const int64_t outer = Numel(Ints(dims.begin(), dims.begin() + axis)), n = dims[axis];
        const int64_t inner = Numel(Ints(dims.begin() + axis + 1, dims.end()));
        const T* src = in[0].as<const T>();
        T* dst = out[0].as<T>();
        using A = typename std::conditional<kIsFloat<T>, double, uint64_t>::type;  // integers wrap
        auto store = [&](int64_t at, A acc) {
          if constexpr (kIsFloat<T>) dst[at] = FromDouble<T>(acc);
          else dst[at] = static_cast<T>(acc);
        };
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t i = 0; i < inner; ++i) {
            A acc = kProduct ? 1 : 0;
            for (int64_t s = 0; s < n; ++s) {
              const int64_t at = (o * n + (reverse ? n - 1 - s : s)) * inner + i;
              A v;
              if constexpr (kIsFloat<T>) v = ToDouble(src[at]);
              else v = static_cast<A>(src[at]);
              if (exclusive) store(at, acc);
              acc = kProduct ? acc * v : acc + v;
              if (!exclusive) store(at, acc);
            }
          }
        }
        return Status::Ok();
      };
    }
  });
  if (!fn) return Unsupported(spec, x->dtype);
  return MakeKernel(std::move(fn));
}

MCPC_REGISTER_KERNEL("Gather", MakeGather);
MCPC_REGISTER_KERNEL("GatherElements", MakeGatherElements);
MCPC_REGISTER_KERNEL("GatherND", MakeGatherND);
MCPC_REGISTER_KERNEL("ScatterND", MakeScatterND);
MCPC_REGISTER_KERNEL("ScatterElements", MakeScatterElements);
MCPC_REGISTER_KERNEL("OneHot", MakeOneHot);
MCPC_REGISTER_KERNEL("TopK", MakeTopK);
MCPC_REGISTER_KERNEL("CumSum", MakeScan<false>);
MCPC_REGISTER_KERNEL("CumProd", MakeScan<true>);

}  // namespace
}  // namespace ew
}  // namespace mcpc
