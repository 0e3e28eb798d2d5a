// Ops whose output dims depend on their inputs' values (ShapeRule::Computed): NonZero, Compress,
// Unique and NonMaxSuppression. Each computes its result, then resolves its dynamic outputs'
// dims through RunContext::outputs (which checks them against the slot's bound) and writes
// there. Values are compared as float64 (exact for every type these take but i64/u64 past 2^53)
// and copied as bytes, so results keep their input's bits. Semantics are compiler/ops/indexing.ts
// and sampling.ts.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "elementwise.h"

namespace mcpc {
namespace ew {
namespace {

using Ints = std::vector<int64_t>;

StatusOr<void*> Resolve(RunContext& ctx, const KernelSpec& spec, size_t j, const Ints& dims) {
  if (!ctx.outputs) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s (node %s) has data-dependent outputs but the plan gives it static shapes", spec.op.c_str(), spec.source.c_str());
  return ctx.outputs->Resolve(j, dims);
}

Status CheckComputed(const PrepareContext& ctx) {
  if (ctx.spec.shapes != ShapeRule::Computed) return BadPlan(ctx.spec, "its outputs' dims are data-dependent, so the plan must say shapes: computed");
  for (size_t i = 0; i < ctx.spec.inputs.size(); ++i) {
    const Slot* s = ctx.input(i);
    if (s && s->dynamic != DynamicDims::Static) return BadPlan(ctx.spec, "its inputs must have static dims");
  }
  return Status::Ok();
}

// NonZero: [rank, count] indices of the nonzero elements, row-major order.
StatusOr<std::unique_ptr<Kernel>> MakeNonZero(const PrepareContext& ctx) {
  MCPC_RETURN_IF_ERROR(CheckComputed(ctx));
  const Slot* x = ctx.input(0);
  if (!x || ctx.output(0)->dtype != DType::I64) return BadPlan(ctx.spec, "needs an input and an i64 output");
  if (!(Bit(x->dtype) & (kNumericTypes | Bit(DType::Bool)))) return Unsupported(ctx.spec, x->dtype);
  const Ints shape = x->shape;
  const KernelSpec spec = ctx.spec;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>&, RunContext& rc) -> Status {
    const int64_t n = Numel(shape), rank = static_cast<int64_t>(shape.size());
    const std::vector<double> v = ReadDoubles(in[0].data, in[0].dtype, n);
    Ints hits;
    for (int64_t i = 0; i < n; ++i) if (v[i] != 0) hits.push_back(i);
    const int64_t count = static_cast<int64_t>(hits.size());
    StatusOr<void*> where = Resolve(rc, spec, 0, {rank, count});
    if (!where.ok()) return where.status();
    int64_t* y = static_cast<int64_t*>(where.value());
    for (int64_t h = 0; h < count; ++h) {
      int64_t flat = hits[h];
      for (int64_t k = rank - 1; k >= 0; --k) {
        y[k * count + h] = flat % shape[k];
        flat /= shape[k];
      }
    }
    return Status::Ok();
  });
}

/** outer x n x inner view of a tensor around `axis` (the flattened tensor when there is no axis). */
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
  int axis = 0;
};

bool AxisOf(const PrepareContext& ctx, const Ints& shape, AxisView* v) {
  if (!ctx.spec.has("axis")) {
    v->n = Numel(shape);
    v->axis = -1;
    return true;
  }
  int64_t axis = ctx.spec.Int("axis", 0);
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return false;
  v->axis = static_cast<int>(axis);
  for (int64_t i = 0; i < rank; ++i) (i < axis ? v->outer : i == axis ? v->n : v->inner) *= shape[i];
  return true;
}

Ints DimsWith(const Ints& shape, const AxisView& a, int64_t count) {
  if (a.axis < 0) return {count};
  Ints d = shape;
  d[a.axis] = count;
  return d;
}

/** Copies slices `keep` (indices along the axis) of src into dst, byte by byte. */
void GatherSlices(const uint8_t* src, uint8_t* dst, const AxisView& a, const Ints& keep, size_t es) {
  const size_t row = static_cast<size_t>(a.inner) * es;
  const int64_t m = static_cast<int64_t>(keep.size());
  for (int64_t o = 0; o < a.outer; ++o) {
    for (int64_t j = 0; j < m; ++j) std::memcpy(dst + (o * m + j) * row, src + (o * a.n + keep[j]) * row, row);
  }
}

// Compress: the slices along axis (or elements of the flattened input) whose condition is true.
StatusOr<std::unique_ptr<Kernel>> MakeCompress(const PrepareContext& ctx) {
  MCPC_RETURN_IF_ERROR(CheckComputed(ctx));
  const Slot* x = ctx.input(0);
  const Slot* c = ctx.input(1);
  if (!x || !c || c->shape.size() != 1) return BadPlan(ctx.spec, "needs X and a 1-D condition");
  if (IsSubByte(x->dtype)) return Unsupported(ctx.spec, x->dtype);
  AxisView a;
  if (!AxisOf(ctx, x->shape, &a)) return BadPlan(ctx.spec, "axis out of range");
  const Ints shape = x->shape;
  const int64_t clen = c->shape[0];
  const size_t es = DTypeSize(x->dtype);
  const KernelSpec spec = ctx.spec;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>&, RunContext& rc) -> Status {
    const std::vector<double> cond = ReadDoubles(in[1].data, in[1].dtype, clen);
    Ints keep;
    for (int64_t i = 0; i < std::min(clen, a.n); ++i) if (cond[i] != 0) keep.push_back(i);
    StatusOr<void*> where = Resolve(rc, spec, 0, DimsWith(shape, a, static_cast<int64_t>(keep.size())));
    if (!where.ok()) return where.status();
    GatherSlices(static_cast<const uint8_t*>(in[0].data), static_cast<uint8_t*>(where.value()), a, keep, es);
    return Status::Ok();
  });
}

// Unique: distinct slices along axis (or elements), sorted or in order of first occurrence, with
// the first index of each, the inverse map and the counts.
StatusOr<std::unique_ptr<Kernel>> MakeUnique(const PrepareContext& ctx) {
  MCPC_RETURN_IF_ERROR(CheckComputed(ctx));
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(ctx.spec, "needs an input");
  if (IsSubByte(x->dtype) || !(Bit(x->dtype) & (kNumericTypes | Bit(DType::Bool)))) return Unsupported(ctx.spec, x->dtype);
  for (size_t j = 1; j < ctx.spec.outputs.size(); ++j) {
    if (ctx.output(j)->dtype != DType::I64) return BadPlan(ctx.spec, "outputs indices, inverse_indices and counts must be i64");
  }
  AxisView a;
  if (!AxisOf(ctx, x->shape, &a)) return BadPlan(ctx.spec, "axis out of range");
  const Ints shape = x->shape;
  const bool sorted = ctx.spec.Int("sorted", 1) != 0;
  const size_t es = DTypeSize(x->dtype);
  const size_t nout = ctx.spec.outputs.size();
  const KernelSpec spec = ctx.spec;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& rc) -> Status {
    const std::vector<double> v = ReadDoubles(in[0].data, in[0].dtype, a.outer * a.n * a.inner);
    // Slice k as a vector compared lexicographically.
    const int64_t len = a.outer * a.inner;
    auto at = [&](int64_t k, int64_t e) { return v[((e / a.inner) * a.n + k) * a.inner + e % a.inner]; };
    auto less = [&](int64_t p, int64_t q) {
      for (int64_t e = 0; e < len; ++e) {
        const double x = at(p, e), y = at(q, e);
        if (x != y) return x < y;
      }
      return false;
    };
    auto equal = [&](int64_t p, int64_t q) { return !less(p, q) && !less(q, p); };
    // Slices by value (stable: equal ones in index order), then the first of each run.
    Ints byValue(a.n);
    std::iota(byValue.begin(), byValue.end(), 0);
    std::stable_sort(byValue.begin(), byValue.end(), less);
    Ints group(a.n), firsts, counts;
    for (int64_t i = 0; i < a.n; ++i) {
      const int64_t k = byValue[i];
      if (i == 0 || !equal(byValue[i - 1], k)) {
        firsts.push_back(k);
        counts.push_back(0);
      }
      group[k] = static_cast<int64_t>(firsts.size()) - 1;
      ++counts.back();
    }
    const int64_t u = static_cast<int64_t>(firsts.size());
    // Output order: by value, or by first occurrence.
    Ints order(u);
    std::iota(order.begin(), order.end(), 0);
    if (!sorted) std::sort(order.begin(), order.end(), [&](int64_t p, int64_t q) { return firsts[p] < firsts[q]; });
    Ints position(u);
    for (int64_t j = 0; j < u; ++j) position[order[j]] = j;
    Ints keep(u);
    for (int64_t j = 0; j < u; ++j) keep[j] = firsts[order[j]];
    StatusOr<void*> y = Resolve(rc, spec, 0, DimsWith(shape, a, u));
    if (!y.ok()) return y.status();
    GatherSlices(static_cast<const uint8_t*>(in[0].data), static_cast<uint8_t*>(y.value()), a, keep, es);
    if (nout > 1) {
      StatusOr<void*> idx = Resolve(rc, spec, 1, {u});
      if (!idx.ok()) return idx.status();
      std::memcpy(idx.value(), keep.data(), keep.size() * sizeof(int64_t));
    }
    if (nout > 2) {
      int64_t* inv = out[2].as<int64_t>();
      for (int64_t k = 0; k < a.n; ++k) inv[k] = position[group[k]];
    }
    if (nout > 3) {
      StatusOr<void*> cnt = Resolve(rc, spec, 3, {u});
      if (!cnt.ok()) return cnt.status();
      int64_t* c = static_cast<int64_t*>(cnt.value());
      for (int64_t j = 0; j < u; ++j) c[j] = counts[order[j]];
    }
    return Status::Ok();
  });
}

double Iou(const double* b, int64_t p, int64_t q, bool center) {
  auto corners = [&](int64_t k, double* y1, double* x1, double* y2, double* x2) {
    const double* r = b + k * 4;
    if (center) {
      *x1 = r[0] - r[2] / 2;
      *x2 = r[0] + r[2] / 2;
      *y1 = r[1] - r[3] / 2;
      *y2 = r[1] + r[3] / 2;
    } else {
      *y1 = std::min(r[0], r[2]);
      *y2 = std::max(r[0], r[2]);
      *x1 = std::min(r[1], r[3]);
      *x2 = std::max(r[1], r[3]);
    }
  };
  double ay1, ax1, ay2, ax2, by1, bx1, by2, bx2;
  corners(p, &ay1, &ax1, &ay2, &ax2);
  corners(q, &by1, &bx1, &by2, &bx2);
  const double ih = std::min(ay2, by2) - std::max(ay1, by1);
  const double iw = std::min(ax2, bx2) - std::max(ax1, bx1);
  if (iw <= 0 || ih <= 0) return 0;
  const double inter = ih * iw;
  const double aa = (ay2 - ay1) * (ax2 - ax1), ab = (by2 - by1) * (bx2 - bx1);
  const double uni = aa + ab - inter;
  return aa <= 0 || ab <= 0 || uni <= 0 ? 0 : inter / uni;
}

// NonMaxSuppression: per batch and class, boxes by descending score (ties in box order), each kept
// unless its IoU with a kept one exceeds the threshold, at most max_output_boxes_per_class.
StatusOr<std::unique_ptr<Kernel>> MakeNonMaxSuppression(const PrepareContext& ctx) {
  MCPC_RETURN_IF_ERROR(CheckComputed(ctx));
  const Slot* boxes = ctx.input(0);
  const Slot* scores = ctx.input(1);
  if (!boxes || !scores || boxes->shape.size() != 3 || boxes->shape[2] != 4 || scores->shape.size() != 3 || scores->shape[0] != boxes->shape[0] ||
      scores->shape[2] != boxes->shape[1]) {
    return BadPlan(ctx.spec, "needs boxes [B, N, 4] and scores [B, C, N]");
  }
  if (!(Bit(boxes->dtype) & kFloatTypes) || !(Bit(scores->dtype) & kFloatTypes)) return Unsupported(ctx.spec, boxes->dtype);
  const int64_t B = boxes->shape[0], NB = boxes->shape[1], NC = scores->shape[1];
  const bool center = ctx.spec.Int("center_point_box", 0) == 1;
  const KernelSpec spec = ctx.spec;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>&, RunContext& rc) -> Status {
    auto scalar = [&](size_t i, double fallback) {
      return in.size() > i && in[i].data && in[i].numel > 0 ? ReadDoubles(in[i].data, in[i].dtype, 1)[0] : fallback;
    };
    const double maxOut = std::max(0.0, scalar(2, 0));
    const double iouT = scalar(3, 0);
    const bool hasScoreT = in.size() > 4 && in[4].data && in[4].numel > 0;
    const double scoreT = scalar(4, 0);
    const std::vector<double> bv = ReadDoubles(in[0].data, in[0].dtype, B * NB * 4);
    const std::vector<double> sv = ReadDoubles(in[1].data, in[1].dtype, B * NC * NB);
    Ints sel;
    for (int64_t b = 0; b < B; ++b) {
      const double* bb = bv.data() + b * NB * 4;
      for (int64_t c = 0; c < NC; ++c) {
        const double* s = sv.data() + (b * NC + c) * NB;
        Ints cand;
        for (int64_t k = 0; k < NB; ++k) if (!hasScoreT || s[k] > scoreT) cand.push_back(k);
        std::stable_sort(cand.begin(), cand.end(), [&](int64_t p, int64_t q) { return s[p] > s[q]; });
        Ints chosen;
        for (int64_t k : cand) {
          if (static_cast<double>(chosen.size()) >= maxOut) break;
          bool keep = true;
          for (int64_t j : chosen) if (Iou(bb, k, j, center) > iouT) { keep = false; break; }
          if (!keep) continue;
          chosen.push_back(k);
          sel.insert(sel.end(), {b, c, k});
        }
      }
    }
    StatusOr<void*> where = Resolve(rc, spec, 0, {static_cast<int64_t>(sel.size() / 3), 3});
    if (!where.ok()) return where.status();
    if (!sel.empty()) std::memcpy(where.value(), sel.data(), sel.size() * sizeof(int64_t));
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("NonZero", MakeNonZero);
MCPC_REGISTER_KERNEL("Compress", MakeCompress);
MCPC_REGISTER_KERNEL("Unique", MakeUnique);
MCPC_REGISTER_KERNEL("NonMaxSuppression", MakeNonMaxSuppression);

}  // namespace
}  // namespace ew
}  // namespace mcpc
