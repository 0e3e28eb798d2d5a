// Integer contractions on 8-bit tensors, as compiler/ops/contraction.ts and quantized.ts define
// them: MatMulInteger and ConvInteger (zero points subtracted, exact i32 accumulation) and
// QLinearMatMul / QLinearConv (the same accumulation requantized: y = clamp(round(acc * m) + zy),
// m = (sx * sw) / sy formed in the scales' own float type as the ONNX reference does).
#include "f64_ref.h"
#include "window.h"

namespace mcpc {
namespace ew {
namespace {

constexpr uint32_t kInt8 = Bit(DType::I8) | Bit(DType::U8);

/** Batched matmul geometry with numpy broadcasting of the batch dims. */
struct MatMulGeom {
  int64_t M = 1, K = 1, N = 1;
  std::vector<int64_t> aBatch, bBatch;  // per output batch, the a/b matrix index
};

bool ResolveMatMul(const std::vector<int64_t>& a0, const std::vector<int64_t>& b0, MatMulGeom* g) {
  if (a0.empty() || b0.empty()) return false;
  std::vector<int64_t> a = a0.size() == 1 ? std::vector<int64_t>{1, a0[0]} : a0;
  std::vector<int64_t> b = b0.size() == 1 ? std::vector<int64_t>{b0[0], 1} : b0;
  g->M = a[a.size() - 2];
  g->K = a[a.size() - 1];
  g->N = b[b.size() - 1];
  if (b[b.size() - 2] != g->K) return false;
  std::vector<int64_t> ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  const size_t r = std::max(ab.size(), bb.size());
  ab.insert(ab.begin(), r - ab.size(), 1);
  bb.insert(bb.begin(), r - bb.size(), 1);
  std::vector<int64_t> out(r);
  for (size_t k = 0; k < r; ++k) {
    if (ab[k] != bb[k] && ab[k] != 1 && bb[k] != 1) return false;
    out[k] = ab[k] == 1 ? bb[k] : ab[k];
  }
  const int64_t nb = Numel(out);
  for (int64_t p = 0; p < nb; ++p) {
    int64_t rem = p, ai = 0, bi = 0, as = 1, bs = 1;
    for (size_t k = r; k-- > 0;) {
      const int64_t idx = rem % out[k];
      rem /= out[k];
      ai += (ab[k] == 1 ? 0 : idx) * as;
      bi += (bb[k] == 1 ? 0 : idx) * bs;
      as *= ab[k];
      bs *= bb[k];
    }
    g->aBatch.push_back(ai);
    g->bBatch.push_back(bi);
  }
  return true;
}

/** Per-index value of a scalar or per-row/column parameter (empty = 0). */
inline int64_t Pick(const std::vector<int64_t>& v, int64_t i) { return v.empty() ? 0 : v[v.size() == 1 ? 0 : i]; }
inline double PickD(const std::vector<double>& v, int64_t i) { return v[v.size() == 1 ? 0 : i]; }

/** acc = (a - az) x (b - bz) with az per row (M) or scalar, bz per column (N) or scalar. */
Status MatMulAcc(const KernelSpec& spec, const MatMulGeom& g, const TensorView& a, const TensorView& b, const TensorView* az,
                 const TensorView* bz, std::vector<int64_t>* acc) {
  const std::vector<int64_t> av = ViewInts(a), bv = ViewInts(b);
  const std::vector<int64_t> azv = az ? ViewInts(*az) : std::vector<int64_t>();
  const std::vector<int64_t> bzv = bz ? ViewInts(*bz) : std::vector<int64_t>();
  if (azv.size() > 1 && static_cast<int64_t>(azv.size()) != g.M) return KernelError(spec, "a_zero_point must be a scalar or have M elements");
  if (bzv.size() > 1 && static_cast<int64_t>(bzv.size()) != g.N) return KernelError(spec, "b_zero_point must be a scalar or have N elements");
  const int64_t M = g.M, K = g.K, N = g.N;
  acc->assign(g.aBatch.size() * M * N, 0);
  for (size_t p = 0; p < g.aBatch.size(); ++p) {
    const int64_t* A = av.data() + g.aBatch[p] * M * K;
    const int64_t* B = bv.data() + g.bBatch[p] * K * N;
    int64_t* C = acc->data() + p * M * N;
    for (int64_t i = 0; i < M; ++i) {
      const int64_t za = Pick(azv, i);
      for (int64_t k = 0; k < K; ++k) {
        const int64_t x = A[i * K + k] - za;
        if (x == 0) continue;
        for (int64_t j = 0; j < N; ++j) C[i * N + j] += x * (B[k * N + j] - Pick(bzv, j));
      }
    }
  }
  return Status::Ok();
}

inline const TensorView* Opt(const std::vector<TensorView>& in, size_t i) { return i < in.size() && in[i].data ? &in[i] : nullptr; }

void StoreI32(const std::vector<int64_t>& acc, const TensorView& out) {
  int32_t* y = out.as<int32_t>();
  for (size_t i = 0; i < acc.size(); ++i) y[i] = static_cast<int32_t>(acc[i]);
}

/** y = clamp(roundHalfEven(acc * m(i)) + zy) with m from the scales in their dtype. */
template <class SX, class SW>
void Requantize(const std::vector<int64_t>& acc, const TensorView& out, DType scaleDtype, SX sx, SW sw, double sy, double zy) {
  const double lo = out.dtype == DType::I8 ? -128 : 0, hi = out.dtype == DType::I8 ? 127 : 255;
  std::vector<double> r(acc.size());
  for (size_t i = 0; i < acc.size(); ++i) {
    const double m = RoundTo(scaleDtype, RoundTo(scaleDtype, sx(i) * sw(i)) / sy);
    r[i] = std::min(hi, std::max(lo, RoundHalfEven(static_cast<double>(acc[i]) * m + zy)));
  }
  WriteDoubles(out.data, out.dtype, r.data(), out.numel);
}

StatusOr<std::unique_ptr<Kernel>> MakeMatMulInteger(const PrepareContext& ctx, bool qlinear) {
  const KernelSpec spec = ctx.spec;
  const size_t ia = 0, ib = qlinear ? 3 : 1;
  const Slot* a = ctx.input(ia);
  const Slot* b = ctx.input(ib);
  if (!a || !b) return BadPlan(spec, "needs A and B");
  if (!IsIn(kInt8, a->dtype)) return Unsupported(spec, a->dtype);
  if (!IsIn(kInt8, b->dtype)) return Unsupported(spec, b->dtype);
  const DType out = ctx.output(0)->dtype;
  if (qlinear ? !IsIn(kInt8, out) : out != DType::I32) return Unsupported(spec, out, "output");
  MatMulGeom g;
  if (!ResolveMatMul(a->shape, b->shape, &g)) return BadPlan(spec, "A and B do not multiply");
  if (!qlinear) {
    return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& o, RunContext&) -> Status {
      std::vector<int64_t> acc;
      MCPC_RETURN_IF_ERROR(MatMulAcc(spec, g, in[0], in[1], Opt(in, 2), Opt(in, 3), &acc));
      StoreI32(acc, o[0]);
      return Status::Ok();
    });
  }
  const DType scaleDtype = ctx.input(1)->dtype;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& o, RunContext&) -> Status {
    std::vector<int64_t> acc;
    MCPC_RETURN_IF_ERROR(MatMulAcc(spec, g, in[0], in[3], Opt(in, 2), Opt(in, 5), &acc));
    const std::vector<double> sa = ViewDoubles(in[1]), sb = ViewDoubles(in[4]), sy = ViewDoubles(in[6]);
    const TensorView* zyv = Opt(in, 7);
    const std::vector<double> zy = zyv ? ViewDoubles(*zyv) : std::vector<double>();
    if (sa.size() > 1 && static_cast<int64_t>(sa.size()) != g.M) return KernelError(spec, "a_scale must be a scalar or have M elements");
    if (sb.size() > 1 && static_cast<int64_t>(sb.size()) != g.N) return KernelError(spec, "b_scale must be a scalar or have N elements");
    const int64_t M = g.M, N = g.N;
    Requantize(acc, o[0], scaleDtype, [&](size_t i) { return PickD(sa, (i / N) % M); }, [&](size_t i) { return PickD(sb, i % N); },
               sy.empty() ? 0.0 : sy[0], zy.empty() ? 0.0 : zy[0]);
    return Status::Ok();
  });
}

// ---- Convolutions ---------------------------------------------------------------------------

struct ConvGeom {
  Window3 w;
  int64_t N = 0, C = 0, M = 0, group = 1;
};

/** acc[n, m, out] = sum (x - xz) * (w - wz[m]) over the group's channels and taps. */
Status ConvAcc(const KernelSpec& spec, const ConvGeom& g, const TensorView& x, const TensorView& w, const TensorView* xz,
               const TensorView* wz, std::vector<int64_t>* acc) {
  const std::vector<int64_t> xv = ViewInts(x), wv = ViewInts(w);
  const std::vector<int64_t> xzv = xz ? ViewInts(*xz) : std::vector<int64_t>();
  const std::vector<int64_t> wzv = wz ? ViewInts(*wz) : std::vector<int64_t>();
  if (xzv.size() > 1) return KernelError(spec, "x_zero_point must be a scalar");
  if (wzv.size() > 1 && static_cast<int64_t>(wzv.size()) != g.M) return KernelError(spec, "w_zero_point must be a scalar or have M elements");
  const Window3& win = g.w;
  const int64_t Cg = g.C / g.group, Mg = g.M / g.group;
  const int64_t inPlane = win.inSize(), outPlane = win.outSize(), kSize = win.kSize();
  const int64_t x0 = xzv.empty() ? 0 : xzv[0];
  acc->assign(g.N * g.M * outPlane, 0);
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t m = 0; m < g.M; ++m) {
      const int64_t grp = m / Mg;
      const int64_t w0 = Pick(wzv, m);
      int64_t* ob = acc->data() + (n * g.M + m) * outPlane;
      for (int64_t c = 0; c < Cg; ++c) {
        const int64_t* xb = xv.data() + (n * g.C + grp * Cg + c) * inPlane;
        const int64_t* wb = wv.data() + (m * Cg + c) * kSize;
        for (int64_t kd = 0; kd < win.k[0]; ++kd) {
          for (int64_t kh = 0; kh < win.k[1]; ++kh) {
            for (int64_t kw = 0; kw < win.k[2]; ++kw) {
              const int64_t wt = wb[(kd * win.k[1] + kh) * win.k[2] + kw] - w0;
              if (wt == 0) continue;
              int64_t d0, d1, h0, h1, l0, l1;
              TapRange(win, 0, kd, &d0, &d1);
              TapRange(win, 1, kh, &h0, &h1);
              TapRange(win, 2, kw, &l0, &l1);
              for (int64_t od = d0; od < d1; ++od) {
                const int64_t id = od * win.stride[0] - win.padBegin[0] + kd * win.dil[0];
                for (int64_t oh = h0; oh < h1; ++oh) {
                  const int64_t ih = oh * win.stride[1] - win.padBegin[1] + kh * win.dil[1];
                  int64_t* orow = ob + (od * win.out[1] + oh) * win.out[2];
                  const int64_t* xrow = xb + (id * win.in[1] + ih) * win.in[2];
                  for (int64_t ow = l0; ow < l1; ++ow) {
                    orow[ow] += wt * (xrow[ow * win.stride[2] - win.padBegin[2] + kw * win.dil[2]] - x0);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<Kernel>> MakeConvInteger(const PrepareContext& ctx, bool qlinear) {
  const KernelSpec spec = ctx.spec;
  const Slot* x = ctx.input(0);
  const Slot* w = ctx.input(qlinear ? 3 : 1);
  if (!x || !w) return BadPlan(spec, "needs X and W");
  if (!IsIn(kInt8, x->dtype)) return Unsupported(spec, x->dtype);
  if (!IsIn(kInt8, w->dtype)) return Unsupported(spec, w->dtype);
  const Slot* y = ctx.output(0);
  if (qlinear ? !IsIn(kInt8, y->dtype) : y->dtype != DType::I32) return Unsupported(spec, y->dtype, "output");
  if (x->shape.size() < 3 || w->shape.size() != x->shape.size() || y->shape.size() != x->shape.size()) return BadPlan(spec, "bad ranks");
  ConvGeom g;
  g.N = x->shape[0];
  g.C = x->shape[1];
  g.M = w->shape[0];
  g.group = spec.Int("group", 1);
  if (g.group < 1 || g.C % g.group != 0 || g.M % g.group != 0 || w->shape[1] * g.group != g.C) return BadPlan(spec, "channels do not match group");
  const std::vector<int64_t> inSp(x->shape.begin() + 2, x->shape.end());
  const std::vector<int64_t> kernel(w->shape.begin() + 2, w->shape.end());
  const std::vector<int64_t> outSp(y->shape.begin() + 2, y->shape.end());
  MCPC_RETURN_IF_ERROR(ResolveWindow(spec, inSp, kernel, outSp, &g.w));
  if (!qlinear) {
    return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& o, RunContext&) -> Status {
      std::vector<int64_t> acc;
      MCPC_RETURN_IF_ERROR(ConvAcc(spec, g, in[0], in[1], Opt(in, 2), Opt(in, 3), &acc));
      StoreI32(acc, o[0]);
      return Status::Ok();
    });
  }
  const DType scaleDtype = ctx.input(1)->dtype;
  return MakeKernel([=](const std::vector<TensorView>& in, const std::vector<TensorView>& o, RunContext&) -> Status {
    std::vector<int64_t> acc;
    MCPC_RETURN_IF_ERROR(ConvAcc(spec, g, in[0], in[3], Opt(in, 2), Opt(in, 5), &acc));
    const int64_t inner = g.w.outSize(), M = g.M;
    if (const TensorView* b = Opt(in, 8)) {
      const std::vector<int64_t> bv = ViewInts(*b);
      for (size_t i = 0; i < acc.size(); ++i) acc[i] += bv[(i / inner) % M];
    }
    const std::vector<double> sx = ViewDoubles(in[1]), sw = ViewDoubles(in[4]), sy = ViewDoubles(in[6]);
    const TensorView* zyv = Opt(in, 7);
    const std::vector<double> zy = zyv ? ViewDoubles(*zyv) : std::vector<double>();
    if (sw.size() > 1 && static_cast<int64_t>(sw.size()) != M) return KernelError(spec, "w_scale must be a scalar or have M elements");
    Requantize(acc, o[0], scaleDtype, [&](size_t) { return sx.empty() ? 0.0 : sx[0]; },
               [&](size_t i) { return PickD(sw, (i / inner) % M); }, sy.empty() ? 0.0 : sy[0], zy.empty() ? 0.0 : zy[0]);
    return Status::Ok();
  });
}

MCPC_REGISTER_KERNEL("MatMulInteger", [](const PrepareContext& ctx) { return MakeMatMulInteger(ctx, false); });
MCPC_REGISTER_KERNEL("QLinearMatMul", [](const PrepareContext& ctx) { return MakeMatMulInteger(ctx, true); });
MCPC_REGISTER_KERNEL("ConvInteger", [](const PrepareContext& ctx) { return MakeConvInteger(ctx, false); });
MCPC_REGISTER_KERNEL("QLinearConv", [](const PrepareContext& ctx) { return MakeConvInteger(ctx, true); });

}  // namespace
}  // namespace ew
}  // namespace mcpc
