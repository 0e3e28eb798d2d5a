// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, as compiler/ops/loss.ts defines them:
// scores [N, C, d1..dk] and integer targets [N, d1..dk]; the weighted negative gather with
// ignore_index, reduced by none/sum/mean (mean divides by the total weight). Computed in float64.
#include "f64_ref.h"

namespace mcpc {
namespace ew {
namespace {

struct LossGeometry {
  int64_t N = 0, C = 0, D = 1;
};

/** loss[n, d] = -logp[n, t, d] * w[t]; returns the reduced or per-element loss into `out`. */
Status Nll(const KernelSpec& spec, const double* logp, const LossGeometry& g, const std::vector<int64_t>& target,
           const std::vector<double>& weight, bool hasIgnore, int64_t ignore, const std::string& reduction, std::vector<double>* out) {
  std::vector<double> loss(static_cast<size_t>(g.N * g.D), 0.0);
  double wsum = 0;
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t d = 0; d < g.D; ++d) {
      const int64_t c = target[n * g.D + d];
      if (hasIgnore && c == ignore) continue;
      if (c < 0 || c >= g.C) return KernelError(spec, FormatMessage("target value %lld is out of range for %lld classes", (long long)c, (long long)g.C));
      const double w = weight.empty() ? 1.0 : weight[c];
      loss[n * g.D + d] = -logp[(n * g.C + c) * g.D + d] * w;
      wsum += w;
    }
  }
  if (reduction == "none") {
    *out = std::move(loss);
    return Status::Ok();
  }
  double s = 0;
  for (double v : loss) s += v;
  *out = {reduction == "sum" ? s : s / wsum};
  return Status::Ok();
}

StatusOr<std::unique_ptr<Kernel>> MakeLoss(const PrepareContext& ctx, bool softmax) {
  const KernelSpec spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* t = ctx.input(1);
  if (!x || !t || spec.outputs.empty()) return BadPlan(spec, "needs scores, targets and an output");
  if (!IsIn(kFloatTypes, x->dtype)) return Unsupported(spec, x->dtype);
  if (!IsIn(kIntTypes, t->dtype)) return Unsupported(spec, t->dtype, "target");
  if (x->shape.size() < 2) return BadPlan(spec, "scores must have rank >= 2");
  const std::string reduction = spec.String("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean") return BadPlan(spec, "unknown reduction '" + reduction + "'");
  LossGeometry g;
  g.N = x->shape[0];
  g.C = x->shape[1];
  for (size_t k = 2; k < x->shape.size(); ++k) g.D *= x->shape[k];
  const bool hasIgnore = spec.has("ignore_index");
  const int64_t ignore = spec.Int("ignore_index", 0);
  const bool wantLogp = softmax && spec.outputs.size() > 1;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    std::vector<double> v = ViewDoubles(in[0]);
    const std::vector<int64_t> target = ViewInts(in[1]);
    const std::vector<double> weight = in.size() > 2 ? ViewDoubles(in[2]) : std::vector<double>();
    if (softmax) {
      // Log-softmax over the class axis, in place, shifted by the max for range.
      for (int64_t n = 0; n < g.N; ++n) {
        for (int64_t d = 0; d < g.D; ++d) {
          double* p = v.data() + n * g.C * g.D + d;
          double m = -INFINITY;
          for (int64_t c = 0; c < g.C; ++c) m = std::max(m, p[c * g.D]);
          double s = 0;
          for (int64_t c = 0; c < g.C; ++c) s += std::exp(p[c * g.D] - m);
          const double lse = m + std::log(s);
          for (int64_t c = 0; c < g.C; ++c) p[c * g.D] -= lse;
        }
      }
    }
    std::vector<double> loss;
    MCPC_RETURN_IF_ERROR(Nll(spec, v.data(), g, target, weight, hasIgnore, ignore, reduction, &loss));
    WriteDoubles(out[0].data, out[0].dtype, loss.data(), out[0].numel);
    if (wantLogp) WriteDoubles(out[1].data, out[1].dtype, v.data(), out[1].numel);
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("NegativeLogLikelihoodLoss", [](const PrepareContext& ctx) { return MakeLoss(ctx, false); });
MCPC_REGISTER_KERNEL("SoftmaxCrossEntropyLoss", [](const PrepareContext& ctx) { return MakeLoss(ctx, true); });

}  // namespace
}  // namespace ew
}  // namespace mcpc
