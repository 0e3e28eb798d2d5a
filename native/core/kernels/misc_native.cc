// Small opaque ops, as their compiler definitions say: BitCast (element bytes reinterpreted,
// math-extra.ts), Det (Gaussian elimination with partial pivoting in float64, math-extra.ts) and
// TensorScatter (a KV-cache write of `update` at per-batch positions along an axis, attention.ts).
#include "f64_ref.h"

namespace mcpc {
namespace ew {
namespace {

StatusOr<std::unique_ptr<Kernel>> MakeBitCast(const PrepareContext& ctx) {
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(ctx.spec, "needs an input");
  if (DTypeSize(x->dtype) != DTypeSize(ctx.output(0)->dtype)) {
    return Unsupported(ctx.spec, ctx.output(0)->dtype, "output");
  }
  return MakeKernel([](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    if (in[0].data != out[0].data) std::memcpy(out[0].data, in[0].data, in[0].numel * DTypeSize(in[0].dtype));
    return Status::Ok();
  });
}

/** Determinant of the n x n matrix a (overwritten), as the reference computes it. */
double Determinant(double* a, int64_t n) {
  double det = 1;
  for (int64_t c = 0; c < n; ++c) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; ++r) {
      if (std::fabs(a[r * n + c]) > std::fabs(a[p * n + c])) p = r;
    }
    if (a[p * n + c] == 0) return 0;
    if (p != c) {
      for (int64_t k = 0; k < n; ++k) std::swap(a[c * n + k], a[p * n + k]);
      det = -det;
    }
    const double d = a[c * n + c];
    det *= d;
    for (int64_t r = c + 1; r < n; ++r) {
      const double f = a[r * n + c] / d;
      if (f == 0) continue;
      for (int64_t k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
    }
  }
  return det;
}

StatusOr<std::unique_ptr<Kernel>> MakeDet(const PrepareContext& ctx) {
  const Slot* x = ctx.input(0);
  if (!x) return BadPlan(ctx.spec, "needs an input");
  if (!IsIn(kFloatTypes, x->dtype)) return Unsupported(ctx.spec, x->dtype);
  const size_t r = x->shape.size();
  if (r < 2 || x->shape[r - 1] != x->shape[r - 2]) return BadPlan(ctx.spec, "input must hold square matrices");
  const int64_t n = x->shape[r - 1];
  return MakeKernel([n](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    std::vector<double> v = ViewDoubles(in[0]);
    const int64_t count = out[0].numel;
    std::vector<double> det(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) det[i] = Determinant(v.data() + i * n * n, n);
    WriteDoubles(out[0].data, out[0].dtype, det.data(), count);
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeTensorScatter(const PrepareContext& ctx) {
  const KernelSpec spec = ctx.spec;
  const Slot* cache = ctx.input(0);
  const Slot* upd = ctx.input(1);
  if (!cache || !upd) return BadPlan(spec, "needs past_cache and update");
  if (upd->dtype != cache->dtype || upd->shape.size() != cache->shape.size()) return BadPlan(spec, "update does not match past_cache");
  const std::string mode = spec.String("mode", "linear");
  if (mode != "linear" && mode != "circular") return BadPlan(spec, "unknown mode '" + mode + "'");
  const bool circular = mode == "circular";
  const auto& dims = cache->shape;
  const int64_t rank = static_cast<int64_t>(dims.size());
  int64_t axis = spec.Int("axis", -2);
  if (axis < 0) axis += rank;
  if (axis <= 0 || axis >= rank) return BadPlan(spec, "axis out of range");
  const int64_t M = dims[axis], S = upd->shape[axis];
  int64_t inner = 1, outer = 1;
  for (int64_t k = axis + 1; k < rank; ++k) inner *= dims[k];
  for (int64_t k = 0; k < axis; ++k) outer *= dims[k];
  const int64_t perBatch = dims[0] > 0 ? outer / dims[0] : 1;
  const size_t es = DTypeSize(cache->dtype);
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    char* dst = static_cast<char*>(out[0].data);
    const char* src = static_cast<const char*>(in[1].data);
    if (in[0].data != out[0].data) std::memcpy(dst, in[0].data, in[0].numel * es);
    const std::vector<int64_t> wi = in.size() > 2 ? ViewInts(in[2]) : std::vector<int64_t>();
    for (int64_t o = 0; o < outer; ++o) {
      const int64_t start = wi.empty() ? 0 : wi[o / perBatch];
      for (int64_t s = 0; s < S; ++s) {
        int64_t pos = start + s;
        if (circular) pos = ((pos % M) + M) % M;
        else if (pos < 0 || pos >= M) {
          return KernelError(spec, FormatMessage("write index %lld is out of range for max_sequence_length %lld in linear mode", (long long)pos, (long long)M));
        }
        std::memcpy(dst + ((o * M + pos) * inner) * es, src + ((o * S + s) * inner) * es, inner * es);
      }
    }
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("BitCast", MakeBitCast);
MCPC_REGISTER_KERNEL("Det", MakeDet);
MCPC_REGISTER_KERNEL("TensorScatter", MakeTensorScatter);

}  // namespace
}  // namespace ew
}  // namespace mcpc
