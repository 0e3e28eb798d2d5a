// Standalone op-kernel tests: each registered kernel (MatMul, Gemm, Conv, ConvTranspose, pools,
// normalizations, Softmax, reductions, ArgMax/ArgMin) against naive double-precision loops on random
// shapes with odd edges (batch broadcast, groups, dilations, pads, strides, ceil_mode...), with
// constant and run-time weights, on 1 and 2 threads. Built by native/tests/build.sh.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <array>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "kernel.h"
#include "kernels/gemm.h"
#include "kernels/rows.h"
#include "thread_pool.h"

using namespace mcpc;

static std::mt19937 rng(7);
// Bench mode: RunOp times this many extra runs and leaves the best per-run time here.
static int g_benchIters = 0;
static double g_benchMs = 0;
static int failures = 0, cases = 0;

using Shape = std::vector<int64_t>;
static int64_t Numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

struct Tensor {
  Shape shape;
  DType dtype = DType::F32;
  std::vector<double> v;
  bool constant = false;
};

static Tensor Rand(Shape s, DType t = DType::F32, double lo = -1, double hi = 1) {
  Tensor r{s, t, std::vector<double>(Numel(s)), false};
  std::uniform_real_distribution<double> d(lo, hi);
  for (auto& x : r.v) {
    x = d(rng);
    if (t == DType::F32) x = static_cast<float>(x);
    if (t == DType::I32 || t == DType::I64) x = std::round(x * 10);
  }
  return r;
}
static Tensor Const(Tensor t) {
  t.constant = true;
  return t;
}
static Tensor I64(std::vector<int64_t> v) {
  Tensor t{{(int64_t)v.size()}, DType::I64, {}, true};
  for (auto x : v) t.v.push_back(double(x));
  return t;
}

static AttrValue AI(int64_t v) { AttrValue a; a.kind = AttrValue::Kind::Int; a.i = v; return a; }
static AttrValue AF(double v) { AttrValue a; a.kind = AttrValue::Kind::Float; a.f = v; return a; }
static AttrValue AInts(std::vector<int64_t> v) { AttrValue a; a.kind = AttrValue::Kind::Ints; a.ints = v; return a; }
static AttrValue AS(std::string v) { AttrValue a; a.kind = AttrValue::Kind::String; a.s = v; return a; }
using Attrs = std::map<std::string, AttrValue>;

static std::vector<uint8_t> Bytes(const Tensor& t) {
  std::vector<uint8_t> b(Numel(t.shape) * DTypeSize(t.dtype) + 8);
  for (size_t i = 0; i < t.v.size(); ++i) {
    switch (t.dtype) {
      case DType::F32: reinterpret_cast<float*>(b.data())[i] = float(t.v[i]); break;
      case DType::F64: reinterpret_cast<double*>(b.data())[i] = t.v[i]; break;
      case DType::I32: reinterpret_cast<int32_t*>(b.data())[i] = int32_t(t.v[i]); break;
      case DType::I64: reinterpret_cast<int64_t*>(b.data())[i] = int64_t(t.v[i]); break;
      default: break;
    }
  }
  return b;
}
static double Get(const std::vector<uint8_t>& b, DType t, size_t i) {
  switch (t) {
    case DType::F32: return reinterpret_cast<const float*>(b.data())[i];
    case DType::F64: return reinterpret_cast<const double*>(b.data())[i];
    case DType::I32: return reinterpret_cast<const int32_t*>(b.data())[i];
    case DType::I64: return double(reinterpret_cast<const int64_t*>(b.data())[i]);
    default: return 0;
  }
}

/** Prepares `op` with the given inputs (nullptr: omitted) and output types, runs it, returns outputs. */
static bool RunOp(const std::string& op, const Attrs& attrs, const std::vector<const Tensor*>& ins, const std::vector<std::pair<Shape, DType>>& outs,
                  int threads, std::vector<std::vector<double>>* result, std::string* err = nullptr) {
  Plan plan;
  KernelSpec spec;
  spec.op = op;
  spec.attrs = attrs;
  spec.source = "/test/" + op;
  std::vector<std::vector<uint8_t>> inBytes;
  for (auto* t : ins) {
    if (!t) {
      spec.inputs.push_back(-1);
      inBytes.emplace_back();
      continue;
    }
    Slot s;
    s.id = (int)plan.slots.size();
    s.dtype = t->dtype;
    s.shape = t->shape;
    s.kind = t->constant ? SlotKind::Weight : SlotKind::Arena;
    plan.slots.push_back(s);
    spec.inputs.push_back(s.id);
    inBytes.push_back(Bytes(*t));
  }
  for (auto& o : outs) {
    Slot s;
    s.id = (int)plan.slots.size();
    s.dtype = o.second;
    s.shape = o.first;
    plan.slots.push_back(s);
    spec.outputs.push_back(s.id);
  }
  PrepareContext pc{spec, plan, {}};
  pc.constantInput = [&](size_t i) -> const void* {
    if (i >= ins.size() || !ins[i] || !ins[i]->constant) return nullptr;
    return inBytes[i].data();
  };
  const KernelFactory* f = KernelRegistry::Get().Find(op);
  if (!f) {
    if (err) *err = "no kernel";
    return false;
  }
  auto made = (*f)(pc);
  if (!made.ok()) {
    if (err) *err = made.status().ToString();
    return false;
  }
  auto kernel = made.take();
  std::vector<TensorView> iv, ov;
  std::vector<std::vector<uint8_t>> outBytes;
  for (size_t i = 0; i < ins.size(); ++i) {
    TensorView v;
    if (ins[i]) {
      v.data = inBytes[i].data();
      v.dtype = ins[i]->dtype;
      v.shape = &ins[i]->shape;
      v.numel = Numel(ins[i]->shape);
    }
    iv.push_back(v);
  }
  for (auto& o : outs) outBytes.emplace_back(Numel(o.first) * DTypeSize(o.second) + 8, 0xCD);
  for (size_t i = 0; i < outs.size(); ++i) {
    TensorView v;
    v.data = outBytes[i].data();
    v.dtype = outs[i].second;
    v.shape = &outs[i].first;
    v.numel = Numel(outs[i].first);
    ov.push_back(v);
  }
  ThreadPool pool(threads);
  RunContext rc;
  rc.pool = &pool;
  // Twice: kernels must not depend on state left by a previous run.
  for (int rep = 0; rep < 2; ++rep) {
    Status s = kernel->Run(iv, ov, rc);
    if (!s.ok()) {
      if (err) *err = s.ToString();
      return false;
    }
  }
  if (g_benchIters > 0) {
    g_benchMs = 1e30;
    for (int rep = 0; rep < 5; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      for (int it = 0; it < g_benchIters; ++it) kernel->Run(iv, ov, rc);
      g_benchMs = std::min(g_benchMs, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / g_benchIters);
    }
  }
  result->clear();
  for (size_t i = 0; i < outs.size(); ++i) {
    std::vector<double> r(Numel(outs[i].first));
    for (size_t j = 0; j < r.size(); ++j) r[j] = Get(outBytes[i], outs[i].second, j);
    result->push_back(r);
  }
  return true;
}

static void Expect(const std::string& what, const std::vector<double>& got, const std::vector<double>& ref, double tol) {
  ++cases;
  double worst = 0;
  size_t at = 0;
  if (got.size() != ref.size()) {
    ++failures;
    std::printf("FAIL %s: %zu values, expected %zu\n", what.c_str(), got.size(), ref.size());
    return;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = (std::isnan(ref[i]) && std::isnan(got[i])) ? 0 : std::fabs(got[i] - ref[i]) / (1 + std::fabs(ref[i]));
    if (!(e <= worst)) { worst = std::isnan(e) ? 1e30 : e; at = i; }
  }
  if (worst > tol) {
    ++failures;
    std::printf("FAIL %s: err %g at %zu (got %g, want %g)\n", what.c_str(), worst, at, got[at], ref[at]);
  }
}

static void Check(const std::string& what, const std::string& op, const Attrs& attrs, const std::vector<const Tensor*>& ins,
                  const std::vector<std::pair<Shape, DType>>& outs, const std::vector<std::vector<double>>& ref, double tol = 2e-5) {
  for (int threads : {1, 2}) {
    std::vector<std::vector<double>> got;
    std::string err;
    if (!RunOp(op, attrs, ins, outs, threads, &got, &err)) {
      ++failures;
      ++cases;
      std::printf("FAIL %s: %s\n", what.c_str(), err.c_str());
      return;
    }
    for (size_t i = 0; i < ref.size(); ++i) Expect(what + " t" + std::to_string(threads) + " out" + std::to_string(i), got[i], ref[i], tol);
  }
}

// ---------------------------------------------------------------------------------------------
// MatMul / Gemm

static void TestMatMul() {
  struct C { Shape a, b; };
  const C shapes[] = {{{5}, {5}}, {{3, 7}, {7}}, {{7}, {7, 9}}, {{1, 13, 17}, {17, 50}}, {{2, 3, 9, 70}, {70, 33}}, {{4, 1, 6, 5}, {3, 5, 49}},
                      {{2, 1, 8, 64}, {1, 12, 64, 8}}, {{12, 20, 64}, {12, 64, 20}}, {{9, 1}, {1, 200}}, {{130, 257}, {257, 97}}};
  for (auto& c : shapes) {
    for (int constB = 0; constB < 2; ++constB) {
      for (DType dt : {DType::F32, DType::F64}) {
        Tensor A = Rand(c.a, dt), B = Rand(c.b, dt);
        B.constant = constB;
        Shape a = c.a, b = c.b;
        if (a.size() == 1) a.insert(a.begin(), 1);
        if (b.size() == 1) b.push_back(1);
        const int64_t M = a[a.size() - 2], K = a.back(), N = b.back();
        Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
        const size_t r = std::max(ab.size(), bb.size());
        ab.insert(ab.begin(), r - ab.size(), 1);
        bb.insert(bb.begin(), r - bb.size(), 1);
        Shape ob(r);
        for (size_t i = 0; i < r; ++i) ob[i] = std::max(ab[i], bb[i]);
        Shape os = ob;
        if (c.a.size() > 1) os.push_back(M);
        if (c.b.size() > 1) os.push_back(N);
        std::vector<double> ref;
        const int64_t nb = Numel(ob);
        for (int64_t p = 0; p < nb; ++p) {
          int64_t rem = p, ao = 0, bo = 0, as = 1, bs = 1;
          std::vector<int64_t> idx(r);
          for (size_t i = r; i-- > 0;) { idx[i] = rem % ob[i]; rem /= ob[i]; }
          for (size_t i = r; i-- > 0;) {
            ao += (ab[i] == 1 ? 0 : idx[i]) * as; as *= ab[i];
            bo += (bb[i] == 1 ? 0 : idx[i]) * bs; bs *= bb[i];
          }
          for (int64_t i = 0; i < M; ++i) for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) s += A.v[ao * M * K + i * K + k] * B.v[bo * K * N + k * N + j];
            ref.push_back(s);
          }
        }
        Check("MatMul " + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K) + (constB ? " constB" : "") + DTypeName(dt),
              "MatMul", {}, {&A, &B}, {{os, dt}}, {ref}, 1e-5);
      }
    }
  }
}

static void TestGemm() {
  struct C { int64_t M, N, K; Shape c; };
  const C shapes[] = {{1, 1000, 2048, {1000}}, {7, 9, 13, {}}, {33, 65, 129, {33, 1}}, {5, 48, 1, {1, 48}}, {16, 20, 30, {16, 20}},
                      {3, 4, 5, {1}}, {10, 1, 20, {10, 1}}};
  for (auto& c : shapes) {
    for (int variant = 0; variant < 8; ++variant) {
      const bool ta = variant & 1, tb = variant & 2, constB = variant & 4;
      const double alpha = variant % 3 == 0 ? 1.0 : 0.5, beta = variant % 4 == 0 ? 1.0 : -1.5;
      Tensor A = Rand(ta ? Shape{c.K, c.M} : Shape{c.M, c.K}), B = Rand(tb ? Shape{c.N, c.K} : Shape{c.K, c.N});
      B.constant = constB;
      const bool hasC = !c.c.empty();
      Tensor Cc = hasC ? Rand(c.c) : Tensor{};
      Shape cs = c.c;
      cs.insert(cs.begin(), 2 - std::min<size_t>(2, cs.size()), 1);
      std::vector<double> ref;
      for (int64_t i = 0; i < c.M; ++i) for (int64_t j = 0; j < c.N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < c.K; ++k) s += A.v[ta ? k * c.M + i : i * c.K + k] * B.v[tb ? j * c.K + k : k * c.N + j];
        s *= alpha;
        if (hasC) s += beta * Cc.v[(cs[0] == 1 ? 0 : i) * cs[1] + (cs[1] == 1 ? 0 : j)];
        ref.push_back(s);
      }
      Attrs at{{"transA", AI(ta)}, {"transB", AI(tb)}, {"alpha", AF(alpha)}, {"beta", AF(beta)}};
      Check("Gemm " + std::to_string(c.M) + "x" + std::to_string(c.N) + "x" + std::to_string(c.K) + " v" + std::to_string(variant), "Gemm", at,
            {&A, &B, hasC ? &Cc : nullptr}, {{{c.M, c.N}, DType::F32}}, {ref}, 5e-5);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Conv / ConvTranspose

struct ConvCase {
  int64_t N, C, M, group;
  Shape in, k, strides, dil, pads;
  std::string autoPad = "NOTSET";
};

static void TestConv() {
  const ConvCase cs[] = {
      {1, 3, 8, 1, {9, 11}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {2, 4, 6, 2, {7, 8}, {3, 2}, {2, 1}, {1, 2}, {0, 1, 2, 0}},
      {1, 16, 32, 1, {14, 14}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {1, 16, 24, 1, {14, 14}, {1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
      {1, 8, 8, 8, {10, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {2, 6, 12, 6, {11, 7}, {3, 5}, {2, 2}, {2, 1}, {2, 1, 0, 2}},
      {1, 3, 64, 1, {32, 30}, {7, 7}, {2, 2}, {1, 1}, {3, 3, 3, 3}},
      {1, 5, 7, 1, {13}, {4}, {3}, {2}, {1, 2}},
      {1, 4, 5, 1, {5, 6, 7}, {2, 3, 2}, {1, 2, 1}, {1, 1, 2}, {1, 0, 1, 0, 1, 1}},
      {1, 64, 70, 1, {9, 9}, {3, 3}, {1, 1}, {1, 1}, {0, 0, 0, 0}, "SAME_UPPER"},
      {1, 6, 4, 2, {8, 8}, {2, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}, "SAME_LOWER"},
      {1, 300, 10, 1, {3, 3}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      // column matrices over 2 MiB (MCPC_CONV_COLBLOCK=1: im2col + GEMM in column blocks that cross output rows)
      {1, 16, 8, 1, {66, 70}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 20, 4, 1, {130, 97}, {3, 3}, {2, 2}, {1, 1}, {1, 0, 1, 2}},
      // depthwise (the SIMD plane kernels): widths around the vector widths, strides 1-3, pads
      {1, 16, 16, 16, {13, 17}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 8, 8, 8, {14, 15}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {1, 4, 4, 4, {20, 37}, {3, 3}, {2, 2}, {1, 1}, {0, 1, 2, 1}},
      {2, 4, 8, 4, {9, 33}, {5, 5}, {1, 1}, {1, 1}, {2, 2, 2, 2}},
      {1, 3, 3, 3, {23, 40}, {7, 7}, {3, 3}, {1, 1}, {3, 3, 3, 3}},
      {1, 2, 2, 2, {11, 19}, {3, 3}, {2, 1}, {1, 1}, {1, 0, 0, 1}},
      {1, 5, 5, 5, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 3, 3, 3, {8, 8}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}, "SAME_UPPER"},
  };
  for (const auto& c : cs) {
    const size_t n = c.in.size();
    Shape pads = c.pads;
    Shape out(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t span = (c.k[i] - 1) * c.dil[i] + 1;
      if (c.autoPad != "NOTSET") {
        out[i] = (c.in[i] + c.strides[i] - 1) / c.strides[i];
        const int64_t total = std::max<int64_t>(0, (out[i] - 1) * c.strides[i] + span - c.in[i]);
        pads[i] = c.autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
        pads[n + i] = total - pads[i];
      } else {
        out[i] = (c.in[i] + pads[i] + pads[n + i] - span) / c.strides[i] + 1;
      }
    }
    Shape xs{c.N, c.C}, ws{c.M, c.C / c.group}, ys{c.N, c.M};
    for (size_t i = 0; i < n; ++i) { xs.push_back(c.in[i]); ws.push_back(c.k[i]); ys.push_back(out[i]); }
    Tensor X = Rand(xs), W = Rand(ws), B = Rand({c.M});
    // Reference: direct loops over all output and kernel positions (up to 3 spatial dims).
    auto at3 = [&](const Shape& s, size_t i, int64_t fill) { return i + n >= 3 ? s[i + n - 3] : fill; };
    const int64_t D = at3(c.in, 0, 1), H = at3(c.in, 1, 1), Wd = at3(c.in, 2, 1);
    const int64_t OD = at3(out, 0, 1), OH = at3(out, 1, 1), OW = at3(out, 2, 1);
    const int64_t KD = at3(c.k, 0, 1), KH = at3(c.k, 1, 1), KW = at3(c.k, 2, 1);
    const int64_t SD = at3(c.strides, 0, 1), SH = at3(c.strides, 1, 1), SW = at3(c.strides, 2, 1);
    const int64_t DD = at3(c.dil, 0, 1), DH = at3(c.dil, 1, 1), DW = at3(c.dil, 2, 1);
    const int64_t PD = at3(pads, 0, 0), PH = at3(pads, 1, 0), PW = at3(pads, 2, 0);
    const int64_t Cg = c.C / c.group, Mg = c.M / c.group;
    for (int withBias = 0; withBias < 2; ++withBias) {
      for (int constW = 0; constW < 2; ++constW) {
        W.constant = constW;
        std::vector<double> ref;
        for (int64_t nn = 0; nn < c.N; ++nn) for (int64_t m = 0; m < c.M; ++m) {
          const int64_t g = m / Mg;
          for (int64_t od = 0; od < OD; ++od) for (int64_t oh = 0; oh < OH; ++oh) for (int64_t ow = 0; ow < OW; ++ow) {
            double s = withBias ? B.v[m] : 0;
            for (int64_t ci = 0; ci < Cg; ++ci) for (int64_t kd = 0; kd < KD; ++kd) for (int64_t kh = 0; kh < KH; ++kh) for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t id = od * SD - PD + kd * DD, ih = oh * SH - PH + kh * DH, iw = ow * SW - PW + kw * DW;
              if (id < 0 || id >= D || ih < 0 || ih >= H || iw < 0 || iw >= Wd) continue;
              s += X.v[(((nn * c.C + g * Cg + ci) * D + id) * H + ih) * Wd + iw] * W.v[(((m * Cg + ci) * KD + kd) * KH + kh) * KW + kw];
            }
            ref.push_back(s);
          }
        }
        Attrs at{{"group", AI(c.group)}, {"strides", AInts(c.strides)}, {"dilations", AInts(c.dil)}};
        if (c.autoPad == "NOTSET") at["pads"] = AInts(c.pads);
        else at["auto_pad"] = AS(c.autoPad);
        std::string name = "Conv C" + std::to_string(c.C) + " M" + std::to_string(c.M) + " g" + std::to_string(c.group) + " rank" + std::to_string(n) +
                           (withBias ? " bias" : "") + (constW ? " constW" : "");
        Check(name, "Conv", at, {&X, &W, withBias ? &B : nullptr}, {{ys, DType::F32}}, {ref}, 1e-5);
      }
    }
  }
}

static void TestConvTranspose() {
  struct CT { int64_t N, C, M, group; Shape in, k, strides, dil, pads, outPad; };
  const CT cs[] = {
      {1, 4, 3, 1, {5, 6}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, {1, 0}},
      {2, 6, 4, 2, {4, 5}, {2, 3}, {1, 2}, {2, 1}, {0, 1, 1, 0}, {0, 1}},
      {1, 8, 16, 1, {7}, {4}, {2}, {1}, {1, 1}, {0}},
      {1, 3, 2, 1, {3, 4, 3}, {2, 2, 3}, {2, 1, 2}, {1, 1, 1}, {0, 0, 1, 1, 0, 0}, {1, 0, 0}},
  };
  for (const auto& c : cs) {
    const size_t n = c.in.size();
    Shape out(n);
    for (size_t i = 0; i < n; ++i) out[i] = c.strides[i] * (c.in[i] - 1) + c.outPad[i] + (c.k[i] - 1) * c.dil[i] + 1 - c.pads[i] - c.pads[n + i];
    const int64_t Mg = c.M / c.group, Cg = c.C / c.group;
    Shape xs{c.N, c.C}, ws{c.C, Mg}, ys{c.N, c.M};
    for (size_t i = 0; i < n; ++i) { xs.push_back(c.in[i]); ws.push_back(c.k[i]); ys.push_back(out[i]); }
    Tensor X = Rand(xs), W = Const(Rand(ws)), B = Rand({c.M});
    auto at3 = [&](const Shape& s, size_t i, int64_t fill) { return i + n >= 3 ? s[i + n - 3] : fill; };
    const int64_t D = at3(c.in, 0, 1), H = at3(c.in, 1, 1), Wd = at3(c.in, 2, 1);
    const int64_t OD = at3(out, 0, 1), OH = at3(out, 1, 1), OW = at3(out, 2, 1);
    const int64_t KD = at3(c.k, 0, 1), KH = at3(c.k, 1, 1), KW = at3(c.k, 2, 1);
    const int64_t SD = at3(c.strides, 0, 1), SH = at3(c.strides, 1, 1), SW = at3(c.strides, 2, 1);
    const int64_t DD = at3(c.dil, 0, 1), DH = at3(c.dil, 1, 1), DW = at3(c.dil, 2, 1);
    const int64_t PD = at3(c.pads, 0, 0), PH = at3(c.pads, 1, 0), PW = at3(c.pads, 2, 0);
    std::vector<double> ref(Numel(ys), 0);
    for (int64_t nn = 0; nn < c.N; ++nn) for (int64_t m = 0; m < c.M; ++m) {
      const int64_t g = m / Mg;
      double* yo = ref.data() + (nn * c.M + m) * OD * OH * OW;
      for (int64_t i = 0; i < OD * OH * OW; ++i) yo[i] = B.v[m];
      for (int64_t ci = 0; ci < Cg; ++ci) for (int64_t id = 0; id < D; ++id) for (int64_t ih = 0; ih < H; ++ih) for (int64_t iw = 0; iw < Wd; ++iw)
        for (int64_t kd = 0; kd < KD; ++kd) for (int64_t kh = 0; kh < KH; ++kh) for (int64_t kw = 0; kw < KW; ++kw) {
          const int64_t od = id * SD - PD + kd * DD, oh = ih * SH - PH + kh * DH, ow = iw * SW - PW + kw * DW;
          if (od < 0 || od >= OD || oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
          const int64_t cin = g * Cg + ci;
          yo[(od * OH + oh) * OW + ow] += X.v[(((nn * c.C + cin) * D + id) * H + ih) * Wd + iw] *
                                          W.v[(((cin * Mg + (m - g * Mg)) * KD + kd) * KH + kh) * KW + kw];
        }
    }
    Attrs at{{"group", AI(c.group)}, {"strides", AInts(c.strides)}, {"dilations", AInts(c.dil)}, {"pads", AInts(c.pads)},
             {"output_padding", AInts(c.outPad)}};
    Check("ConvTranspose C" + std::to_string(c.C) + " rank" + std::to_string(n), "ConvTranspose", at, {&X, &W, &B}, {{ys, DType::F32}}, {ref}, 1e-5);
  }
}

// ---------------------------------------------------------------------------------------------
// Pools

static void TestPools() {
  struct P { Shape x, k, s, d, pads; int ceil, includePad; };
  const P ps[] = {
      {{1, 64, 112, 112}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, 0, 0},
      {{2, 3, 7, 9}, {2, 3}, {2, 2}, {1, 1}, {0, 1, 1, 0}, 1, 0},
      {{1, 2, 8, 8}, {3, 3}, {3, 3}, {1, 1}, {1, 1, 1, 1}, 1, 1},
      {{1, 3, 10, 11}, {3, 2}, {1, 2}, {2, 1}, {2, 0, 1, 1}, 0, 1},
      {{2, 2, 15}, {4}, {3}, {1}, {1, 2}, 1, 0},
      {{1, 2, 5, 6, 7}, {2, 3, 2}, {2, 1, 2}, {1, 1, 1}, {1, 0, 1, 0, 1, 1}, 0, 1},
  };
  for (const auto& p : ps) {
    const size_t n = p.k.size();
    Shape out(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t span = (p.k[i] - 1) * p.d[i] + 1, room = p.x[2 + i] + p.pads[i] + p.pads[n + i] - span;
      int64_t o = (p.ceil ? (room + p.s[i] - 1) / p.s[i] : room / p.s[i]) + 1;
      if (p.ceil && (o - 1) * p.s[i] >= p.x[2 + i] + p.pads[i]) --o;
      out[i] = o;
    }
    Shape ys{p.x[0], p.x[1]};
    for (auto o : out) ys.push_back(o);
    for (DType dt : {DType::F32, DType::F64}) {
      Tensor X = Rand(p.x, dt);
      for (int colMajor = 0; colMajor < 2; ++colMajor) {
        std::vector<double> refMax, refIdx, refAvg;
        const int64_t planes = p.x[0] * p.x[1];
        auto g3 = [&](const Shape& s, size_t i, int64_t f) { return i + n >= 3 ? s[i + n - 3] : f; };
        Shape in(p.x.begin() + 2, p.x.end());
        const int64_t D = g3(in, 0, 1), H = g3(in, 1, 1), W = g3(in, 2, 1);
        const int64_t OD = g3(out, 0, 1), OH = g3(out, 1, 1), OW = g3(out, 2, 1);
        Shape pb(p.pads.begin(), p.pads.begin() + n), pe(p.pads.begin() + n, p.pads.end());
        for (int64_t c = 0; c < planes; ++c)
          for (int64_t od = 0; od < OD; ++od) for (int64_t oh = 0; oh < OH; ++oh) for (int64_t ow = 0; ow < OW; ++ow) {
            double mx = -INFINITY, sum = 0;
            int64_t at = -1, cnt = 0, padded = 1;
            const int64_t o3[3] = {od, oh, ow}, dims[3] = {D, H, W};
            for (int a = 0; a < 3; ++a) {
              int64_t pc = 0;
              for (int64_t t = 0; t < g3(p.k, a, 1); ++t) {
                const int64_t i = o3[a] * g3(p.s, a, 1) - g3(pb, a, 0) + t * g3(p.d, a, 1);
                if (i >= -g3(pb, a, 0) && i < dims[a] + g3(pe, a, 0)) ++pc;
              }
              padded *= pc;
            }
            for (int64_t kd = 0; kd < g3(p.k, 0, 1); ++kd) for (int64_t kh = 0; kh < g3(p.k, 1, 1); ++kh) for (int64_t kw = 0; kw < g3(p.k, 2, 1); ++kw) {
              const int64_t id = od * g3(p.s, 0, 1) - g3(pb, 0, 0) + kd * g3(p.d, 0, 1);
              const int64_t ih = oh * g3(p.s, 1, 1) - g3(pb, 1, 0) + kh * g3(p.d, 1, 1);
              const int64_t iw = ow * g3(p.s, 2, 1) - g3(pb, 2, 0) + kw * g3(p.d, 2, 1);
              if (id < 0 || id >= D || ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const double v = X.v[c * D * H * W + (id * H + ih) * W + iw];
              if (v > mx || at < 0) { mx = v; at = colMajor ? id + (ih + iw * H) * D : (id * H + ih) * W + iw; }
              sum += v;
              ++cnt;
            }
            refMax.push_back(mx);
            refIdx.push_back(double(c * D * H * W + at));
            refAvg.push_back(sum / double(p.includePad ? padded : cnt));
          }
        Attrs at{{"kernel_shape", AInts(p.k)}, {"strides", AInts(p.s)}, {"dilations", AInts(p.d)}, {"pads", AInts(p.pads)}, {"ceil_mode", AI(p.ceil)},
                 {"storage_order", AI(colMajor)}};
        const std::string tag = " rank" + std::to_string(n) + " ceil" + std::to_string(p.ceil) + " " + DTypeName(dt);
        Check("MaxPool" + tag + " order" + std::to_string(colMajor), "MaxPool", at, {&X}, {{ys, dt}, {ys, DType::I64}}, {refMax, refIdx}, 1e-6);
        if (colMajor) continue;
        Check("MaxPool" + tag + " no indices", "MaxPool", at, {&X}, {{ys, dt}}, {refMax}, 1e-6);
        at.erase("storage_order");
        at["count_include_pad"] = AI(p.includePad);
        Check("AveragePool" + tag + " incl" + std::to_string(p.includePad), "AveragePool", at, {&X}, {{ys, dt}}, {refAvg}, 1e-6);
      }
    }
  }
  for (Shape xs : {Shape{1, 2048, 7, 7}, Shape{2, 3, 5}, Shape{1, 4, 3, 2, 5}}) {
    Tensor X = Rand(xs);
    const int64_t planes = xs[0] * xs[1], plane = Numel(xs) / planes;
    std::vector<double> avg, mx;
    for (int64_t c = 0; c < planes; ++c) {
      double s = 0, m = -INFINITY;
      for (int64_t i = 0; i < plane; ++i) { s += X.v[c * plane + i]; m = std::max(m, X.v[c * plane + i]); }
      avg.push_back(s / plane);
      mx.push_back(m);
    }
    Shape ys(xs.size(), 1);
    ys[0] = xs[0];
    ys[1] = xs[1];
    Check("GlobalAveragePool", "GlobalAveragePool", {}, {&X}, {{ys, DType::F32}}, {avg}, 1e-6);
    Check("GlobalMaxPool", "GlobalMaxPool", {}, {&X}, {{ys, DType::F32}}, {mx}, 1e-6);
  }
}

// ---------------------------------------------------------------------------------------------
// Normalizations, softmax

static void TestNorms() {
  for (DType dt : {DType::F32, DType::F64}) {
    // BatchNormalization
    for (Shape xs : {Shape{2, 5, 7, 3}, Shape{3, 4}, Shape{1, 64, 56, 56}}) {
      const int64_t C = xs[1], inner = Numel(xs) / (xs[0] * C);
      Tensor X = Rand(xs, dt), S = Rand({C}, dt), B = Rand({C}, dt), Mn = Rand({C}, dt), V = Rand({C}, dt, 0.1, 2);
      for (int cst = 0; cst < 2; ++cst) {
        for (Tensor* t : {&S, &B, &Mn, &V}) t->constant = cst;
        std::vector<double> ref;
        for (int64_t i = 0; i < Numel(xs); ++i) {
          const int64_t c = (i / inner) % C;
          ref.push_back((X.v[i] - Mn.v[c]) / std::sqrt(V.v[c] + 1e-3) * S.v[c] + B.v[c]);
        }
        Check(std::string("BatchNormalization ") + DTypeName(dt), "BatchNormalization", {{"epsilon", AF(1e-3)}}, {&X, &S, &B, &Mn, &V}, {{xs, dt}}, {ref}, 1e-5);
      }
    }
    // LayerNormalization, with stats outputs
    struct L { Shape x; int64_t axis; Shape scale; bool bias; };
    const L ls[] = {{{2, 128, 768}, -1, {768}, true}, {{3, 5, 7}, 1, {5, 7}, false}, {{4, 33}, -1, {33}, true}, {{2, 3, 4}, 0, {1}, true},
                    {{6, 1}, -1, {1}, true}, {{2, 17}, 1, {1, 17}, true}};
    for (const auto& l : ls) {
      const int64_t rank = l.x.size(), axis = l.axis < 0 ? l.axis + rank : l.axis;
      int64_t outer = 1, inner = 1;
      for (int64_t i = 0; i < rank; ++i) (i < axis ? outer : inner) *= l.x[i];
      Tensor X = Rand(l.x, dt, -3, 5), S = Rand(l.scale, dt), B = Rand(l.scale, dt);
      std::vector<double> ref, mean, inv;
      for (int64_t r = 0; r < outer; ++r) {
        double s = 0, q = 0;
        for (int64_t i = 0; i < inner; ++i) s += X.v[r * inner + i];
        const double m = s / inner;
        for (int64_t i = 0; i < inner; ++i) q += (X.v[r * inner + i] - m) * (X.v[r * inner + i] - m);
        const double iv = 1 / std::sqrt(q / inner + 1e-5);
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t si = S.v.size() == 1 ? 0 : i;
          ref.push_back((X.v[r * inner + i] - m) * iv * S.v[si] + (l.bias ? B.v[si] : 0));
        }
        mean.push_back(m);
        inv.push_back(iv);
      }
      Shape ss = l.x;
      for (int64_t i = axis; i < rank; ++i) ss[i] = 1;
      Check(std::string("LayerNormalization ") + DTypeName(dt) + " inner" + std::to_string(inner), "LayerNormalization", {{"axis", AI(l.axis)}},
            {&X, &S, l.bias ? &B : nullptr}, {{l.x, dt}, {ss, DType::F32}, {ss, DType::F32}}, {ref, mean, inv}, 2e-5);
    }
    // InstanceNormalization and GroupNormalization
    for (int64_t G : {0, 1, 2, 6}) {
      Shape xs{2, 6, 5, 3};
      Tensor X = Rand(xs, dt, -2, 3), S = Rand({6}, dt), B = Rand({6}, dt);
      const int64_t groups = G == 0 ? 6 : G, chans = 6 / groups, block = chans * 15;
      std::vector<double> ref(Numel(xs));
      for (int64_t b = 0; b < 2 * groups; ++b) {
        double s = 0, q = 0;
        for (int64_t i = 0; i < block; ++i) s += X.v[b * block + i];
        const double m = s / block;
        for (int64_t i = 0; i < block; ++i) q += (X.v[b * block + i] - m) * (X.v[b * block + i] - m);
        const double iv = 1 / std::sqrt(q / block + 1e-5);
        for (int64_t i = 0; i < block; ++i) {
          const int64_t c = (b % groups) * chans + i / 15;
          ref[b * block + i] = (X.v[b * block + i] - m) * iv * S.v[c] + B.v[c];
        }
      }
      if (G == 0) Check(std::string("InstanceNormalization ") + DTypeName(dt), "InstanceNormalization", {}, {&X, &S, &B}, {{xs, dt}}, {ref}, 2e-5);
      else Check(std::string("GroupNormalization G") + std::to_string(G), "GroupNormalization", {{"num_groups", AI(G)}}, {&X, &S, &B}, {{xs, dt}}, {ref}, 2e-5);
    }
  }
}

static void TestSoftmax() {
  struct S { Shape x; int64_t axis; };
  const S ss[] = {{{2, 12, 128, 128}, -1}, {{3, 1000}, 1}, {{5, 7}, 0}, {{2, 3, 4, 5}, 1}, {{4, 17}, -1}, {{1, 3}, -1}, {{6, 33, 1}, 1}};
  for (const auto& s : ss) {
    for (DType dt : {DType::F32, DType::F64}) {
      for (const char* arch : {"avx512", "avx2", "portable"}) {
        if (!rows::Force(arch)) continue;
        Tensor X = Rand(s.x, dt, -20, 20);
        const int64_t rank = s.x.size(), axis = s.axis < 0 ? s.axis + rank : s.axis;
        int64_t outer = 1, n = s.x[axis], inner = 1;
        for (int64_t i = 0; i < rank; ++i) if (i < axis) outer *= s.x[i]; else if (i > axis) inner *= s.x[i];
        std::vector<double> sm(X.v.size()), lsm(X.v.size());
        for (int64_t o = 0; o < outer; ++o) for (int64_t j = 0; j < inner; ++j) {
          double mx = -INFINITY, sum = 0;
          for (int64_t k = 0; k < n; ++k) mx = std::max(mx, X.v[(o * n + k) * inner + j]);
          for (int64_t k = 0; k < n; ++k) sum += std::exp(X.v[(o * n + k) * inner + j] - mx);
          for (int64_t k = 0; k < n; ++k) {
            const int64_t i = (o * n + k) * inner + j;
            sm[i] = std::exp(X.v[i] - mx) / sum;
            lsm[i] = X.v[i] - mx - std::log(sum);
          }
        }
        const std::string tag = std::string(" ") + arch + " " + DTypeName(dt) + " n" + std::to_string(n) + " inner" + std::to_string(inner);
        Check("Softmax" + tag, "Softmax", {{"axis", AI(s.axis)}}, {&X}, {{s.x, dt}}, {sm}, 1e-6);
        Check("LogSoftmax" + tag, "LogSoftmax", {{"axis", AI(s.axis)}}, {&X}, {{s.x, dt}}, {lsm}, 1e-6);
        if (dt == DType::F64) break;
      }
    }
  }
  rows::Force("avx512") || rows::Force("avx2");
}

// ---------------------------------------------------------------------------------------------
// Reductions

static void TestReduce() {
  const char* kinds[] = {"Sum", "Mean", "Max", "Min", "Prod", "L1", "L2", "LogSum", "LogSumExp", "SumSquare"};
  struct R { Shape x; std::vector<int64_t> axes; bool hasAxes; int noop; };
  const R rs[] = {{{2, 3, 4}, {1}, true, 0}, {{2, 3, 4}, {0, 2}, true, 0}, {{2, 3, 4}, {-1}, true, 0}, {{5, 7}, {}, false, 0},
                  {{5, 7}, {}, true, 1}, {{4, 1, 6, 5}, {0, 3}, true, 0}, {{3, 128, 768}, {-1}, true, 0}, {{64, 300}, {0}, true, 0},
                  {{2, 3, 4, 5, 6}, {1, 3}, true, 0}, {{7}, {0}, true, 0}};
  for (const auto& r : rs) {
    for (const char* kind : kinds) {
      for (DType dt : {DType::F32, DType::F64, DType::I64}) {
        const std::string k = kind;
        const bool intOk = k == "Sum" || k == "Mean" || k == "Max" || k == "Min" || k == "Prod" || k == "L1" || k == "SumSquare";
        if (dt == DType::I64 && !intOk) continue;
        const bool positive = k == "LogSum" || k == "Prod";
        Tensor X = dt == DType::I64 ? Rand(r.x, dt, -0.3, 0.3) : Rand(r.x, dt, positive ? 0.5 : -2, positive ? 1.5 : 2);
        const int64_t rank = r.x.size();
        std::vector<char> mask(rank, 0);
        bool identity = false;
        if (r.axes.empty()) { if (r.noop) identity = true; else std::fill(mask.begin(), mask.end(), 1); }
        for (auto a : r.axes) mask[a < 0 ? a + rank : a] = 1;
        Shape ys;
        for (int64_t i = 0; i < rank; ++i) ys.push_back(mask[i] ? 1 : r.x[i]);
        const int64_t nOut = Numel(ys);
        std::vector<std::vector<double>> groups(nOut);
        std::vector<int64_t> idx(rank, 0);
        for (int64_t i = 0; i < Numel(r.x); ++i) {
          int64_t o = 0;
          for (int64_t d = 0; d < rank; ++d) o = o * ys[d] + (mask[d] ? 0 : idx[d]);
          groups[o].push_back(X.v[i]);
          for (int64_t d = rank - 1; d >= 0; --d) { if (++idx[d] < r.x[d]) break; idx[d] = 0; }
        }
        std::vector<double> ref;
        for (auto& g : groups) {
          double s = 0, mx = -INFINITY, mn = INFINITY, p = 1, l1 = 0, sq = 0;
          for (double v : g) { s += v; mx = std::max(mx, v); mn = std::min(mn, v); p *= v; l1 += std::fabs(v); sq += v * v; }
          double lse = 0;
          for (double v : g) lse += std::exp(v - mx);
          lse = std::log(lse) + mx;
          double v = k == "Sum" ? s : k == "Mean" ? s / g.size() : k == "Max" ? mx : k == "Min" ? mn : k == "Prod" ? p : k == "L1" ? l1
                   : k == "L2" ? std::sqrt(sq) : k == "LogSum" ? std::log(s) : k == "LogSumExp" ? lse : sq;
          if (dt == DType::I64 && k == "Mean") v = std::trunc(v);
          ref.push_back(v);
        }
        if (identity) { ref = X.v; ys = r.x; }
        Tensor axes = I64(r.axes);
        for (int cst = 0; cst < 2; ++cst) {
          axes.constant = cst;
          Check("Reduce" + k + " " + DTypeName(dt) + " rank" + std::to_string(rank) + (cst ? " const axes" : " runtime axes"), "Reduce" + k,
                {{"keepdims", AI(1)}, {"noop_with_empty_axes", AI(r.noop)}}, {&X, r.hasAxes ? &axes : nullptr}, {{ys, dt}}, {ref}, 1e-5);
          if (!r.hasAxes) break;
        }
      }
    }
  }
  // ArgMax / ArgMin with ties and select_last_index
  for (int isMax = 0; isMax < 2; ++isMax) for (int last = 0; last < 2; ++last) for (int64_t axis : {0, 1, 2}) {
    Shape xs{3, 5, 4};
    Tensor X = Rand(xs, DType::F32, -2, 2);
    for (auto& v : X.v) v = std::round(v * 2) / 2;  // ties
    int64_t outer = 1, n = xs[axis], inner = 1;
    for (int64_t i = 0; i < 3; ++i) if (i < axis) outer *= xs[i]; else if (i > axis) inner *= xs[i];
    std::vector<double> ref;
    for (int64_t o = 0; o < outer; ++o) for (int64_t j = 0; j < inner; ++j) {
      double best = X.v[o * n * inner + j];
      int64_t at = 0;
      for (int64_t k = 1; k < n; ++k) {
        const double a = X.v[(o * n + k) * inner + j];
        if (isMax ? (a > best || (last && a == best)) : (a < best || (last && a == best))) { best = a; at = k; }
      }
      ref.push_back(double(at));
    }
    Shape ys = xs;
    ys[axis] = 1;
    Check(std::string(isMax ? "ArgMax" : "ArgMin") + " axis" + std::to_string(axis) + " last" + std::to_string(last), isMax ? "ArgMax" : "ArgMin",
          {{"axis", AI(axis)}, {"keepdims", AI(1)}, {"select_last_index", AI(last)}}, {&X}, {{ys, DType::I64}}, {ref}, 0);
  }
}

static void TestErrors() {
  Tensor A = Rand({2, 3}, DType::I32), B = Rand({3, 4}, DType::I32);
  std::vector<std::vector<double>> out;
  std::string err;
  ++cases;
  if (RunOp("MatMul", {}, {&A, &B}, {{{2, 4}, DType::I32}}, 1, &out, &err) || err.find("MCPC4011") == std::string::npos ||
      err.find("/test/MatMul") == std::string::npos) {
    ++failures;
    std::printf("FAIL MatMul i32 should be MCPC4011 naming the node, got '%s'\n", err.c_str());
  }
  Tensor X = Rand({1, 2, 4, 4}, DType::F64), W = Rand({2, 2, 3, 3}, DType::F64);
  ++cases;
  if (RunOp("Conv", {}, {&X, &W}, {{{1, 2, 2, 2}, DType::F64}}, 1, &out, &err) || err.find("MCPC4011") == std::string::npos) {
    ++failures;
    std::printf("FAIL Conv f64 should be MCPC4011, got '%s'\n", err.c_str());
  }
}

/** ResNet-50 convolutions and BERT-base projections, timed like native/tests/ort_bench.py times ORT. */
static void Bench(int threads) {
  g_benchIters = 10;
  const int64_t convs[][6] = {{3, 64, 7, 2, 3, 224},    {64, 64, 1, 1, 0, 56},    {64, 64, 3, 1, 1, 56},   {64, 256, 1, 1, 0, 56},
                              {256, 64, 1, 1, 0, 56},   {256, 128, 1, 1, 0, 56},  {128, 128, 3, 2, 1, 56}, {128, 512, 1, 1, 0, 28},
                              {512, 128, 1, 1, 0, 28},  {128, 128, 3, 1, 1, 28},  {256, 512, 1, 2, 0, 56}, {256, 256, 3, 1, 1, 14},
                              {1024, 256, 1, 1, 0, 14}, {256, 1024, 1, 1, 0, 14}, {512, 512, 3, 1, 1, 7},  {2048, 512, 1, 1, 0, 7},
                              {512, 2048, 1, 1, 0, 7}};
  std::vector<std::vector<double>> out;
  for (auto& c : convs) {
    const int64_t ci = c[0], co = c[1], k = c[2], st = c[3], p = c[4], hw = c[5], oh = (hw + 2 * p - k) / st + 1;
    Tensor X = Rand({1, ci, hw, hw}), W = Const(Rand({co, ci, k, k})), B = Const(Rand({co}));
    Attrs at{{"strides", AInts({st, st})}, {"pads", AInts({p, p, p, p})}};
    RunOp("Conv", at, {&X, &W, &B}, {{{1, co, oh, oh}, DType::F32}}, threads, &out);
    std::printf("conv %4ld->%4ld k%ld s%ld %3ld: mcpc %7.3f ms %6.1f GFLOP/s\n", (long)ci, (long)co, (long)k, (long)st, (long)hw, g_benchMs,
                2.0 * co * ci * k * k * oh * oh / g_benchMs * 1e-6);
  }
  for (auto& m : {std::array<int64_t, 3>{128, 768, 768}, std::array<int64_t, 3>{128, 768, 3072}, std::array<int64_t, 3>{128, 3072, 768}}) {
    Tensor X = Rand({1, m[0], m[1]}), W = Const(Rand({m[1], m[2]}));
    RunOp("MatMul", {}, {&X, &W}, {{{1, m[0], m[2]}, DType::F32}}, threads, &out);
    std::printf("matmul %ldx%ldx%ld: mcpc %7.3f ms %6.1f GFLOP/s\n", (long)m[0], (long)m[1], (long)m[2], g_benchMs,
                2.0 * m[0] * m[1] * m[2] / g_benchMs * 1e-6);
  }
  g_benchIters = 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "bench") == 0) {
    Bench(argc > 2 ? std::atoi(argv[2]) : 1);
    return 0;
  }
  // MCPC_TEST_ARCH=avx512|avx2|portable runs the checks on that GEMM / depthwise kernel set.
  if (const char* arch = std::getenv("MCPC_TEST_ARCH"); arch && !gemm::ForceArch(arch)) {
    std::printf("skipped: this machine cannot run %s\n", arch);
    return 0;
  }
  TestMatMul();
  TestGemm();
  TestConv();
  TestConvTranspose();
  TestPools();
  TestNorms();
  TestSoftmax();
  TestReduce();
  TestErrors();
  std::printf("%d op checks, %d failed (gemm arch %s, row kernels %s)\n", cases, failures, gemm::ActiveArch().name, rows::Active().name);
  return failures ? 1 : 0;
}
