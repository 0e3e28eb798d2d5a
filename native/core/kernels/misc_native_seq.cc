// Stateful sequence ops of opset 27, as compiler/ops/attention.ts defines them: LinearAttention
// (a per-head state S [dk, dv] updated every step by the linear, gated, delta or gated-delta rule
// and read by the query heads sharing it) and CausalConvWithState (a depthwise causal conv over
// carry state + input that also returns the new carry state). Computed in float64.
#include "f64_ref.h"

namespace mcpc {
namespace ew {
namespace {

StatusOr<std::unique_ptr<Kernel>> MakeLinearAttention(const PrepareContext& ctx) {
  const KernelSpec spec = ctx.spec;
  const Slot* q = ctx.input(0);
  const Slot* k = ctx.input(1);
  const Slot* v = ctx.input(2);
  if (!q || !k || !v) return BadPlan(spec, "needs query, key and value");
  for (const Slot* s : {q, k, v}) {
    if (!IsIn(kFloatTypes, s->dtype)) return Unsupported(spec, s->dtype);
    if (s->shape.size() != 3) return BadPlan(spec, "query, key and value must be 3-D");
  }
  const std::string rule = spec.String("update_rule", "gated_delta");
  if (rule != "linear" && rule != "gated" && rule != "delta" && rule != "gated_delta") return BadPlan(spec, "unknown update_rule '" + rule + "'");
  const bool gated = rule == "gated" || rule == "gated_delta";
  const bool delta = rule == "delta" || rule == "gated_delta";
  const int64_t qh = spec.Int("q_num_heads", 0), kvh = spec.Int("kv_num_heads", 0);
  if (qh <= 0 || kvh <= 0 || qh % kvh != 0) return BadPlan(spec, "q_num_heads must be a positive multiple of kv_num_heads");
  if (gated != HasInput(ctx, 4) || delta != HasInput(ctx, 5)) return BadPlan(spec, "decay/beta inputs do not match update_rule");
  const int64_t B = q->shape[0], T = q->shape[1];
  const int64_t dk = q->shape[2] / qh, dv = v->shape[2] / kvh;
  const int64_t group = qh / kvh;
  const int64_t dLast = gated ? ctx.input(4)->shape[2] : 0;
  const int64_t bLast = delta ? ctx.input(5)->shape[2] : 0;
  if (gated && dLast != kvh && dLast != kvh * dk) return BadPlan(spec, "decay last dim must be kv_num_heads or kv_num_heads * head size");
  if (delta && bLast != kvh && bLast != 1) return BadPlan(spec, "beta last dim must be kv_num_heads or 1");
  const double scaleAttr = spec.Float("scale", 0);
  const double sc = scaleAttr != 0 ? scaleAttr : 1 / std::sqrt(static_cast<double>(dk));
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    const std::vector<double> qv = ViewDoubles(in[0]), kv = ViewDoubles(in[1]), vv = ViewDoubles(in[2]);
    std::vector<double> state = in.size() > 3 && in[3].data ? ViewDoubles(in[3]) : std::vector<double>(B * kvh * dk * dv, 0.0);
    const std::vector<double> decay = gated ? ViewDoubles(in[4]) : std::vector<double>();
    const std::vector<double> beta = delta ? ViewDoubles(in[5]) : std::vector<double>();
    std::vector<double> y(static_cast<size_t>(B * T * qh * dv), 0.0);
    std::vector<double> vt(static_cast<size_t>(dv));
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t < T; ++t) {
        const int64_t bt = b * T + t;
        for (int64_t h = 0; h < kvh; ++h) {
          double* S = state.data() + (b * kvh + h) * dk * dv;
          const double* kk = kv.data() + bt * kvh * dk + h * dk;
          if (gated) {
            for (int64_t d = 0; d < dk; ++d) {
              const double g = dLast == kvh ? decay[bt * kvh + h] : decay[bt * kvh * dk + h * dk + d];
              const double f = std::exp(g);
              for (int64_t m = 0; m < dv; ++m) S[d * dv + m] *= f;
            }
          }
          for (int64_t m = 0; m < dv; ++m) vt[m] = vv[bt * kvh * dv + h * dv + m];
          if (delta) {
            const double be = beta[bt * bLast + (bLast == 1 ? 0 : h)];
            for (int64_t m = 0; m < dv; ++m) {
              double got = 0;
              for (int64_t d = 0; d < dk; ++d) got += S[d * dv + m] * kk[d];
              vt[m] = be * (vt[m] - got);
            }
          }
          for (int64_t d = 0; d < dk; ++d) {
            for (int64_t m = 0; m < dv; ++m) S[d * dv + m] += kk[d] * vt[m];
          }
        }
        // Each query head reads the state of the KV head it shares.
        for (int64_t h = 0; h < qh; ++h) {
          const double* S = state.data() + (b * kvh + h / group) * dk * dv;
          const double* qq = qv.data() + bt * qh * dk + h * dk;
          for (int64_t m = 0; m < dv; ++m) {
            double acc = 0;
            for (int64_t d = 0; d < dk; ++d) acc += qq[d] * S[d * dv + m];
            y[bt * qh * dv + h * dv + m] = sc * acc;
          }
        }
      }
    }
    WriteDoubles(out[0].data, out[0].dtype, y.data(), out[0].numel);
    if (out.size() > 1 && out[1].data) WriteDoubles(out[1].data, out[1].dtype, state.data(), out[1].numel);
    return Status::Ok();
  });
}

StatusOr<std::unique_ptr<Kernel>> MakeCausalConv(const PrepareContext& ctx) {
  const KernelSpec spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* w = ctx.input(1);
  if (!x || !w) return BadPlan(spec, "needs input and weight");
  if (!IsIn(kFloatTypes, x->dtype)) return Unsupported(spec, x->dtype);
  if (x->shape.size() != 3 || w->shape.size() != 3) return BadPlan(spec, "input and weight must be 3-D");
  const std::string act = spec.String("activation", "none");
  if (act != "none" && act != "silu" && act != "swish") return BadPlan(spec, "unknown activation '" + act + "'");
  const bool silu = act != "none";
  const int64_t B = x->shape[0], C = x->shape[1], L = x->shape[2], K = w->shape[2];
  if (K < 1) return BadPlan(spec, "kernel size must be >= 1");
  const DType dt = x->dtype;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    const std::vector<double> xv = ViewDoubles(in[0]), wv = ViewDoubles(in[1]);
    const std::vector<double> bias = in.size() > 2 ? ViewDoubles(in[2]) : std::vector<double>();
    const std::vector<double> past = in.size() > 3 ? ViewDoubles(in[3]) : std::vector<double>();
    const int64_t N = L + K - 1;
    // The effective sequence: carry state (or zeros) followed by the input.
    std::vector<double> padded(static_cast<size_t>(B * C * N), 0.0);
    for (int64_t bc = 0; bc < B * C; ++bc) {
      if (!past.empty()) std::copy(past.begin() + bc * (K - 1), past.begin() + (bc + 1) * (K - 1), padded.begin() + bc * N);
      std::copy(xv.begin() + bc * L, xv.begin() + (bc + 1) * L, padded.begin() + bc * N + K - 1);
    }
    std::vector<double> y(static_cast<size_t>(B * C * L));
    std::vector<double> state(static_cast<size_t>(B * C * (K - 1)));
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t c = 0; c < C; ++c) {
        const int64_t base = (b * C + c) * N;
        for (int64_t t = 0; t < L; ++t) {
          double acc = bias.empty() ? 0.0 : bias[c];
          for (int64_t i = 0; i < K; ++i) acc += wv[c * K + i] * padded[base + t + i];
          const double r = RoundTo(dt, acc);
          y[(b * C + c) * L + t] = silu ? r / (1 + std::exp(-r)) : r;
        }
        std::copy(padded.begin() + base + L, padded.begin() + base + N, state.begin() + (b * C + c) * (K - 1));
      }
    }
    WriteDoubles(out[0].data, out[0].dtype, y.data(), out[0].numel);
    if (out.size() > 1 && out[1].data) WriteDoubles(out[1].data, out[1].dtype, state.data(), out[1].numel);
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("LinearAttention", MakeLinearAttention);
MCPC_REGISTER_KERNEL("CausalConvWithState", MakeCausalConv);

}  // namespace
}  // namespace ew
}  // namespace mcpc
