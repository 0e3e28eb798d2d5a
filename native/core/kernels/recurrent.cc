// RNN, GRU and LSTM, as compiler/ops/recurrent.ts defines them: forward, reverse or bidirectional,
// per-batch sequence lengths, initial states, peepholes, clip, input_forget, linear_before_reset,
// the activations attribute (with alpha/beta lists consumed in order) and layout 0/1. The recurrence
// runs step by step in float64 like the reference; steps past a batch's length leave Y at zero.
#include <algorithm>
#include <cctype>

#include "f64_ref.h"

namespace mcpc {
namespace ew {
namespace {

enum class Cell { RNN, GRU, LSTM };

struct Act {
  enum class Kind { Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus } kind;
  double a = 0, b = 0;
  double operator()(double x) const {
    switch (kind) {
      case Kind::Relu: return std::max(0.0, x);
      case Kind::Tanh: return std::tanh(x);
      case Kind::Sigmoid: return 1 / (1 + std::exp(-x));
      case Kind::Affine: return a * x + b;
      case Kind::LeakyRelu: return x >= 0 ? x : a * x;
      case Kind::ThresholdedRelu: return x > a ? x : 0;
      case Kind::ScaledTanh: return a * std::tanh(b * x);
      case Kind::HardSigmoid: return std::max(0.0, std::min(1.0, a * x + b));
      case Kind::Elu: return x >= 0 ? x : a * (std::exp(x) - 1);
      case Kind::Softsign: return x / (1 + std::fabs(x));
      case Kind::Softplus: return std::log1p(std::exp(x));
    }
    return x;
  }
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/** Activations of each direction; alpha/beta lists are consumed by the functions that use them. */
Status ResolveActs(const KernelSpec& spec, Cell cell, int dirs, std::vector<std::vector<Act>>* out) {
  static const std::vector<std::string> kDefaults[3] = {{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
  const std::vector<std::string>& defs = kDefaults[static_cast<int>(cell)];
  const size_t per = defs.size();
  std::vector<std::string> names;
  if (spec.has("activations")) names = spec.attrs.at("activations").strings;
  std::vector<std::string> list;
  if (names.empty()) {
    for (int d = 0; d < dirs; ++d) list.insert(list.end(), defs.begin(), defs.end());
  } else if (names.size() == per && dirs == 2) {
    list = names;
    list.insert(list.end(), names.begin(), names.end());
  } else {
    list = names;
  }
  if (list.size() != per * dirs) return BadPlan(spec, "attribute 'activations' lists the wrong number of functions");
  const std::vector<double> alphas = spec.Floats("activation_alpha"), betas = spec.Floats("activation_beta");
  size_t ai = 0, bi = 0;
  struct Known { const char* name; Act::Kind kind; bool alpha; double da; bool beta; double db; };
  static const Known kKnown[] = {
      {"relu", Act::Kind::Relu, false, 0, false, 0},        {"tanh", Act::Kind::Tanh, false, 0, false, 0},
      {"sigmoid", Act::Kind::Sigmoid, false, 0, false, 0},  {"affine", Act::Kind::Affine, true, 1, true, 0},
      {"leakyrelu", Act::Kind::LeakyRelu, true, 0.01, false, 0}, {"thresholdedrelu", Act::Kind::ThresholdedRelu, true, 1, false, 0},
      {"scaledtanh", Act::Kind::ScaledTanh, true, 1, true, 1}, {"hardsigmoid", Act::Kind::HardSigmoid, true, 0.2, true, 0.5},
      {"elu", Act::Kind::Elu, true, 1, false, 0},           {"softsign", Act::Kind::Softsign, false, 0, false, 0},
      {"softplus", Act::Kind::Softplus, false, 0, false, 0},
  };
  std::vector<Act> fns;
  for (const std::string& n : list) {
    const std::string l = Lower(n);
    const Known* k = nullptr;
    for (const Known& c : kKnown) {
      if (l == c.name) k = &c;
    }
    if (!k) return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s: activation '%s' is not supported (node %s)", spec.op.c_str(), n.c_str(), spec.source.c_str());
    Act a{k->kind};
    if (k->alpha) a.a = ai < alphas.size() ? alphas[ai++] : k->da;
    if (k->beta) a.b = bi < betas.size() ? betas[bi++] : k->db;
    fns.push_back(a);
  }
  out->assign(dirs, {});
  for (int d = 0; d < dirs; ++d) (*out)[d].assign(fns.begin() + d * per, fns.begin() + (d + 1) * per);
  return Status::Ok();
}

StatusOr<std::unique_ptr<Kernel>> MakeRecurrent(const PrepareContext& ctx, Cell cell) {
  const KernelSpec spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* w = ctx.input(1);
  const Slot* r = ctx.input(2);
  if (!x || !w || !r) return BadPlan(spec, "needs X, W and R");
  if (!IsIn(kFloatTypes, x->dtype)) return Unsupported(spec, x->dtype);
  if (x->shape.size() != 3 || r->shape.size() != 3) return BadPlan(spec, "X and R must be 3-D");
  const int64_t layout = spec.Int("layout", 0);
  if (layout != 0 && layout != 1) return BadPlan(spec, "layout must be 0 or 1");
  const std::string direction = spec.String("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional") return BadPlan(spec, "unknown direction");
  const int dirs = direction == "bidirectional" ? 2 : 1;
  const bool reverseOnly = direction == "reverse";
  const int64_t seq = layout == 0 ? x->shape[0] : x->shape[1];
  const int64_t batch = layout == 0 ? x->shape[1] : x->shape[0];
  const int64_t I = x->shape[2];
  const int64_t H = spec.has("hidden_size") ? spec.Int("hidden_size", 0) : r->shape[2];
  const int64_t G = cell == Cell::RNN ? 1 : cell == Cell::GRU ? 3 : 4;
  std::vector<std::vector<Act>> acts;
  MCPC_RETURN_IF_ERROR(ResolveActs(spec, cell, dirs, &acts));
  const double clip = spec.has("clip") ? spec.Float("clip", 0) : INFINITY;
  const bool inputForget = spec.Int("input_forget", 0) != 0;
  const bool lbr = spec.Int("linear_before_reset", 0) != 0;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext&) -> Status {
    auto opt = [&](size_t i) { return i < in.size() ? ViewDoubles(in[i]) : std::vector<double>(); };
    const std::vector<double> xv = ViewDoubles(in[0]), W = ViewDoubles(in[1]), R = ViewDoubles(in[2]);
    const std::vector<double> Bv = opt(3);
    const std::vector<int64_t> lens = in.size() > 4 ? ViewInts(in[4]) : std::vector<int64_t>();
    const std::vector<double> h0v = opt(5);
    const std::vector<double> c0v = cell == Cell::LSTM ? opt(6) : std::vector<double>();
    const std::vector<double> P = cell == Cell::LSTM ? opt(7) : std::vector<double>();
    auto stateAt = [&](int64_t d, int64_t b) { return (layout == 0 ? d * batch + b : b * dirs + d) * H; };
    // Per-direction states [batch, H].
    std::vector<double> hs(dirs * batch * H, 0.0), cs(dirs * batch * H, 0.0);
    for (int64_t d = 0; d < dirs; ++d) {
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t h = 0; h < H; ++h) {
          if (!h0v.empty()) hs[(d * batch + b) * H + h] = h0v[stateAt(d, b) + h];
          if (!c0v.empty()) cs[(d * batch + b) * H + h] = c0v[stateAt(d, b) + h];
        }
      }
    }
    auto xAt = [&](int64_t t, int64_t b) { return (layout == 0 ? t * batch + b : b * seq + t) * I; };
    auto yAt = [&](int64_t t, int64_t d, int64_t b) { return (layout == 0 ? (t * dirs + d) * batch + b : (b * seq + t) * dirs + d) * H; };
    auto cl = [&](double v) { return std::max(-clip, std::min(clip, v)); };
    std::vector<double> Y(static_cast<size_t>(seq * dirs * batch * H), 0.0);
    std::vector<double> xp(G * H), hp(G * H), next(H), rg(H);
    for (int64_t d = 0; d < dirs; ++d) {
      const bool back = reverseOnly || d == 1;
      const Act f = acts[d][0];
      const Act g = acts[d].size() > 1 ? acts[d][1] : f;
      const Act hAct = acts[d].size() > 2 ? acts[d][2] : f;
      const double* Wd = W.data() + d * G * H * I;
      const double* Rd = R.data() + d * G * H * H;
      const double* wb = Bv.empty() ? nullptr : Bv.data() + d * 2 * G * H;
      const double* rb = Bv.empty() ? nullptr : Bv.data() + d * 2 * G * H + G * H;
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t L = lens.empty() ? seq : lens[b];
        if (L < 0 || L > seq) return KernelError(spec, FormatMessage("sequence_lens value %lld is out of range for sequence length %lld", (long long)L, (long long)seq));
        double* h = hs.data() + (d * batch + b) * H;
        double* c = cs.data() + (d * batch + b) * H;
        for (int64_t s = 0; s < L; ++s) {
          const int64_t t = back ? L - 1 - s : s;
          const double* xt = xv.data() + xAt(t, b);
          for (int64_t row = 0; row < G * H; ++row) {
            double a = wb ? wb[row] : 0;
            for (int64_t k = 0; k < I; ++k) a += Wd[row * I + k] * xt[k];
            xp[row] = a;
            double r2 = rb ? rb[row] : 0;
            for (int64_t k = 0; k < H; ++k) r2 += Rd[row * H + k] * h[k];
            hp[row] = r2;
          }
          if (cell == Cell::RNN) {
            for (int64_t j = 0; j < H; ++j) next[j] = f(cl(xp[j] + hp[j]));
          } else if (cell == Cell::GRU) {
            // Gate rows: update z, reset r, hidden h.
            for (int64_t j = 0; j < H; ++j) rg[j] = f(cl(xp[H + j] + hp[H + j]));
            for (int64_t j = 0; j < H; ++j) {
              const double z = f(cl(xp[j] + hp[j]));
              double rec;
              if (lbr) {
                rec = rg[j] * hp[2 * H + j];
              } else {
                rec = rb ? rb[2 * H + j] : 0;
                for (int64_t k = 0; k < H; ++k) rec += Rd[(2 * H + j) * H + k] * rg[k] * h[k];
              }
              const double hh = g(cl(xp[2 * H + j] + rec));
              next[j] = (1 - z) * hh + z * h[j];
            }
          } else {
            // Gate rows: input i, output o, forget f, cell c; peepholes P: i, o, f.
            for (int64_t j = 0; j < H; ++j) {
              const double pi = P.empty() ? 0 : P[d * 3 * H + j];
              const double po = P.empty() ? 0 : P[d * 3 * H + H + j];
              const double pf = P.empty() ? 0 : P[d * 3 * H + 2 * H + j];
              const double ig = f(cl(xp[j] + hp[j] + pi * c[j]));
              const double fg = inputForget ? 1 - ig : f(cl(xp[2 * H + j] + hp[2 * H + j] + pf * c[j]));
              const double cc = g(cl(xp[3 * H + j] + hp[3 * H + j]));
              const double ct = fg * c[j] + ig * cc;
              const double og = f(cl(xp[H + j] + hp[H + j] + po * ct));
              c[j] = ct;
              next[j] = og * hAct(ct);
            }
          }
          std::copy(next.begin(), next.end(), h);
          std::copy(next.begin(), next.end(), Y.begin() + yAt(t, d, b));
        }
      }
    }
    WriteDoubles(out[0].data, out[0].dtype, Y.data(), out[0].numel);
    auto writeState = [&](const std::vector<double>& s, const TensorView& o) {
      std::vector<double> v(static_cast<size_t>(dirs * batch * H));
      for (int64_t d = 0; d < dirs; ++d) {
        for (int64_t b = 0; b < batch; ++b) std::copy_n(s.begin() + (d * batch + b) * H, H, v.begin() + stateAt(d, b));
      }
      WriteDoubles(o.data, o.dtype, v.data(), o.numel);
    };
    if (out.size() > 1 && out[1].data) writeState(hs, out[1]);
    if (cell == Cell::LSTM && out.size() > 2 && out[2].data) writeState(cs, out[2]);
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("RNN", [](const PrepareContext& ctx) { return MakeRecurrent(ctx, Cell::RNN); });
MCPC_REGISTER_KERNEL("GRU", [](const PrepareContext& ctx) { return MakeRecurrent(ctx, Cell::GRU); });
MCPC_REGISTER_KERNEL("LSTM", [](const PrepareContext& ctx) { return MakeRecurrent(ctx, Cell::LSTM); });

}  // namespace
}  // namespace ew
}  // namespace mcpc
