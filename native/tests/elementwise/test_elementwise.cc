// Standalone tests of the elementwise, cast and movement kernels: broadcasting edge cases, every
// dtype path, SIMD accuracy (AVX2 and AVX-512 both), transposes, slicing with negative steps and
// index errors. Pieces of native/core not written yet (registry, thread pool, spec accessors) are
// stubbed below; build with native/tests/elementwise/run.sh.
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <random>
#include <thread>

#include "kernels/elementwise.h"

namespace mcpc {
// ---- stubs of the executor's pieces ----
KernelRegistry& KernelRegistry::Get() { static KernelRegistry r; return r; }
void KernelRegistry::Add(const std::string& op, KernelFactory f) { entries_.emplace_back(op, std::move(f)); }
const KernelFactory* KernelRegistry::Find(const std::string& op) const {
  for (auto& e : entries_) if (e.first == op) return &e.second;
  return nullptr;
}
std::vector<std::string> KernelRegistry::Names() const { std::vector<std::string> n; for (auto& e : entries_) n.push_back(e.first); return n; }
int64_t KernelSpec::Int(const std::string& n, int64_t f) const { auto it = attrs.find(n); return it == attrs.end() ? f : it->second.i; }
double KernelSpec::Float(const std::string& n, double f) const { auto it = attrs.find(n); return it == attrs.end() ? f : it->second.f; }
std::string KernelSpec::String(const std::string& n, const std::string& f) const { auto it = attrs.find(n); return it == attrs.end() ? f : it->second.s; }
std::vector<int64_t> KernelSpec::Ints(const std::string& n, const std::vector<int64_t>& f) const { auto it = attrs.find(n); return it == attrs.end() ? f : it->second.ints; }
std::vector<double> KernelSpec::Floats(const std::string& n, const std::vector<double>& f) const { auto it = attrs.find(n); return it == attrs.end() ? f : it->second.floats; }
std::string FormatMessage(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}
struct ThreadPool::Impl {};
ThreadPool::ThreadPool(int threads) : impl_(nullptr), threads_(threads) {}
ThreadPool::~ThreadPool() {}
void ThreadPool::ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  int64_t chunks = std::min<int64_t>(threads_ * 3, (n + grain - 1) / grain);
  std::vector<std::thread> ts;
  for (int64_t c = 0; c < chunks; ++c) ts.emplace_back([&, c] { fn(n * c / chunks, n * (c + 1) / chunks); });
  for (auto& t : ts) t.join();
}
}  // namespace mcpc

using namespace mcpc;
using namespace mcpc::ew;

static int failures = 0, checks = 0;
#define CHECK(cond, ...)                                  \
  do {                                                    \
    ++checks;                                             \
    if (!(cond)) {                                        \
      ++failures;                                         \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__);    \
      std::printf(__VA_ARGS__);                           \
      std::printf("\n");                                  \
    }                                                     \
  } while (0)

struct Tensor {
  DType dt = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  bool constant = false;
  bool omitted = false;
  int64_t numel() const { return Numel(shape); }
};

template <class T> Tensor Make(DType dt, std::vector<int64_t> shape, const std::vector<double>& v, bool constant = false) {
  Tensor t;
  t.dt = dt;
  t.shape = shape;
  t.constant = constant;
  t.bytes.resize(Numel(shape) * sizeof(T));
  T* p = reinterpret_cast<T*>(t.bytes.data());
  for (int64_t i = 0; i < Numel(shape); ++i) p[i] = FromDouble<T>(v[i % v.size()]);
  return t;
}
Tensor F(std::vector<int64_t> s, std::vector<double> v) { return Make<float>(DType::F32, s, v); }
Tensor I64(std::vector<int64_t> s, std::vector<double> v, bool c = false) { return Make<int64_t>(DType::I64, s, v, c); }
Tensor Out(DType dt, std::vector<int64_t> s) { Tensor t; t.dt = dt; t.shape = s; t.bytes.resize(Numel(s) * DTypeSize(dt)); return t; }
Tensor Omitted() { Tensor t; t.omitted = true; return t; }

template <class T> std::vector<double> Values(const Tensor& t) {
  std::vector<double> v;
  const T* p = reinterpret_cast<const T*>(t.bytes.data());
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(ToDouble(p[i]));
  return v;
}
std::vector<double> Vals(const Tensor& t) {
  std::vector<double> r;
  VisitDType(t.dt, [&](auto tag) { r = Values<typename decltype(tag)::type>(t); });
  return r;
}

using Attrs = std::map<std::string, AttrValue>;
AttrValue AI(int64_t i) { AttrValue a; a.kind = AttrValue::Kind::Int; a.i = i; return a; }
AttrValue AF(double f) { AttrValue a; a.kind = AttrValue::Kind::Float; a.f = f; return a; }
AttrValue AS(std::string s) { AttrValue a; a.kind = AttrValue::Kind::String; a.s = s; return a; }
AttrValue AIs(std::vector<int64_t> v) { AttrValue a; a.kind = AttrValue::Kind::Ints; a.ints = v; return a; }

ThreadPool pool2(2);

/** Prepares and runs op; returns the Prepare or Run status. */
Status RunOp(const std::string& op, const Attrs& attrs, std::vector<Tensor>& ins, std::vector<Tensor>& outs, bool threads = true) {
  Plan plan;
  KernelSpec spec;
  spec.op = op;
  spec.source = "/test/" + op;
  spec.attrs = attrs;
  for (auto* group : {&ins, &outs}) {
    for (auto& t : *group) {
      if (t.omitted) { spec.inputs.push_back(-1); continue; }
      Slot s;
      s.id = static_cast<int>(plan.slots.size());
      s.dtype = t.dt;
      s.shape = t.shape;
      plan.slots.push_back(s);
      (group == &ins ? spec.inputs : spec.outputs).push_back(s.id);
    }
  }
  const KernelFactory* f = KernelRegistry::Get().Find(op);
  if (!f) return MCPC_ERROR(MCPC_E_UNSUPPORTED, "no kernel %s", op.c_str());
  PrepareContext pc{spec, plan, nullptr};
  pc.constantInput = [&](size_t i) -> const void* { return ins[i].constant ? ins[i].bytes.data() : nullptr; };
  auto k = (*f)(pc);
  if (!k.ok()) return k.status();
  std::vector<TensorView> iv, ov;
  for (auto& t : ins) {
    TensorView v;
    v.data = t.omitted ? nullptr : t.bytes.data();
    v.dtype = t.dt;
    v.shape = &t.shape;
    v.numel = t.numel();
    iv.push_back(v);
  }
  for (auto& t : outs) {
    TensorView v;
    v.data = t.bytes.data();
    v.dtype = t.dt;
    v.shape = &t.shape;
    v.numel = t.numel();
    ov.push_back(v);
  }
  RunContext rc;
  rc.pool = threads ? &pool2 : nullptr;
  return k.value()->Run(iv, ov, rc);
}

void Expect(const std::string& what, const std::vector<double>& got, const std::vector<double>& want, double tol = 0) {
  bool ok = got.size() == want.size();
  for (size_t i = 0; ok && i < got.size(); ++i) {
    if (std::isnan(want[i])) ok = std::isnan(got[i]);
    else ok = got[i] == want[i] || (tol > 0 && std::fabs(got[i] - want[i]) <= tol * std::max(1.0, std::fabs(want[i])));
    if (!ok) std::printf("  %s: element %zu got %.9g want %.9g\n", what.c_str(), i, got[i], want[i]);
  }
  if (got.size() != want.size()) std::printf("  %s: size %zu want %zu\n", what.c_str(), got.size(), want.size());
  CHECK(ok, "%s", what.c_str());
}

std::vector<double> Run1(const std::string& op, const Attrs& attrs, std::vector<Tensor> ins, Tensor out) {
  std::vector<Tensor> outs{out};
  Status s = RunOp(op, attrs, ins, outs);
  CHECK(s.ok(), "%s failed: %s", op.c_str(), s.ToString().c_str());
  return Vals(outs[0]);
}

// ---- reference helpers ----
std::vector<double> RefBroadcast(const std::vector<int64_t>& out, const std::vector<int64_t>& a, const std::vector<double>& av,
                                 const std::vector<int64_t>& b, const std::vector<double>& bv, double (*f)(double, double)) {
  std::vector<double> r;
  const int64_t n = Numel(out);
  const int R = out.size();
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
    for (int d = R - 1; d >= 0; --d) {
      int64_t c = rem % out[d];
      rem /= out[d];
      int da = d - (R - (int)a.size()), db = d - (R - (int)b.size());
      if (da >= 0) { if (a[da] != 1) ia += c * sa; sa *= a[da]; }
      if (db >= 0) { if (b[db] != 1) ib += c * sb; sb *= b[db]; }
    }
    r.push_back(f(av[ia], bv[ib]));
  }
  return r;
}
std::vector<double> Seq(int64_t n, double start = 0, double step = 1) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(start + i * step);
  return v;
}
std::vector<double> Rand(int64_t n, double lo, double hi, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(static_cast<float>(d(g)));
  return v;
}

void TestBroadcast() {
  struct C { std::vector<int64_t> a, b, out; };
  const C cases[] = {
      {{2, 3, 4}, {2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {}, {2, 3, 4}},       {{}, {2, 3, 4}, {2, 3, 4}},
      {{2, 3, 4}, {4}, {2, 3, 4}},       {{2, 3, 4}, {3, 1}, {2, 3, 4}},   {{2, 1, 4}, {1, 3, 1}, {2, 3, 4}},
      {{1}, {1}, {1}},                   {{5, 1, 1, 7}, {1, 6, 1, 1}, {5, 6, 1, 7}}, {{1, 1}, {3, 1}, {3, 1}},
      {{300, 257}, {257}, {300, 257}},   {{300, 1}, {300, 257}, {300, 257}}, {{0, 3}, {3}, {0, 3}},
      {{64, 1, 129}, {1, 33, 129}, {64, 33, 129}},
  };
  double (*ops[])(double, double) = {[](double x, double y) { return (double)(float)(x + y); }, [](double x, double y) { return (double)(float)(x - y); },
                                     [](double x, double y) { return (double)(float)(x * y); }, [](double x, double y) { return (double)(float)(x / y); }};
  const char* names[] = {"Add", "Sub", "Mul", "Div"};
  for (const C& c : cases) {
    auto av = Rand(std::max<int64_t>(Numel(c.a), 1), -3, 3, 1), bv = Rand(std::max<int64_t>(Numel(c.b), 1), 0.5, 3, 2);
    for (int k = 0; k < 4; ++k) {
      auto got = Run1(names[k], {}, {F(c.a, av), F(c.b, bv)}, Out(DType::F32, c.out));
      Expect(std::string(names[k]) + " f32 broadcast", got, RefBroadcast(c.out, c.a, av, c.b, bv, ops[k]));
    }
  }
  // Every SIMD set gives the same arithmetic as scalar.
  for (auto* ks : {simd::ScalarKernels(), simd::Avx2Kernels(), simd::Avx512Kernels()}) {
    auto a = Rand(37, -2, 2, 3), b = Rand(37, 0.5, 2, 4);
    std::vector<float> fa(a.begin(), a.end()), fb(b.begin(), b.end()), out(37);
    for (int mode = 0; mode < 3; ++mode) {
      ks->binary(simd::BinOp::Div, fa.data(), fb.data(), out.data(), 37, mode);
      for (int i = 0; i < 37; ++i) {
        float want = fa[mode == 1 ? 0 : i] / fb[mode == 2 ? 0 : i];
        CHECK(out[i] == want, "%s div mode %d", ks->name, mode);
      }
    }
  }
  // Bad broadcast is a plan error, not UB.
  std::vector<Tensor> ins{F({2, 3}, {1}), F({4}, {1})}, outs{Out(DType::F32, {2, 3})};
  Status s = RunOp("Add", {}, ins, outs);
  CHECK(!s.ok() && std::string(s.code()) == MCPC_E_INVALID_PLAN, "bad broadcast: %s", s.ToString().c_str());
}

void TestIntegerAndOtherDtypes() {
  // i64 arithmetic incl. truncating division, division by zero and floored Mod.
  auto a = std::vector<double>{7, -7, 7, -7, 5, 0}, b = std::vector<double>{2, 2, -2, -2, 0, 3};
  Expect("Div i64", Run1("Div", {}, {I64({6}, a), I64({6}, b)}, Out(DType::I64, {6})), {3, -3, -3, 3, 0, 0});
  Expect("Mod i64", Run1("Mod", {}, {I64({6}, a), I64({6}, b)}, Out(DType::I64, {6})), {1, 1, -1, -1, 0, 0});
  Expect("Mod fmod i64", Run1("Mod", {{"fmod", AI(1)}}, {I64({6}, a), I64({6}, b)}, Out(DType::I64, {6})), {1, -1, 1, -1, 0, 0});
  Expect("Mod f32", Run1("Mod", {}, {F({3}, {5.5, -5.5, 5.5}), F({3}, {2, 2, -2})}, Out(DType::F32, {3})), {1.5, 0.5, -0.5});
  Expect("Add i64 broadcast", Run1("Add", {}, {I64({2, 3}, Seq(6)), I64({3, 1, 1}, {10, 20, 30})}, Out(DType::I64, {3, 2, 3})),
         {10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25, 30, 31, 32, 33, 34, 35});
  Expect("Mul i32 wraps", Run1("Mul", {}, {Make<int32_t>(DType::I32, {1}, {65536}), Make<int32_t>(DType::I32, {1}, {65537})}, Out(DType::I32, {1})), {65536});
  Expect("Sub u8 wraps", Run1("Sub", {}, {Make<uint8_t>(DType::U8, {1}, {1}), Make<uint8_t>(DType::U8, {1}, {2})}, Out(DType::U8, {1})), {255});
  Expect("Add i8", Run1("Add", {}, {Make<int8_t>(DType::I8, {2}, {100, -100}), Make<int8_t>(DType::I8, {2}, {100, -100})}, Out(DType::I8, {2})), {-56, 56});
  // f16 / bf16 / f64 arithmetic.
  Expect("Add f16", Run1("Add", {}, {Make<Half>(DType::F16, {3}, {1, 2048, 0.1}), Make<Half>(DType::F16, {1}, {1})}, Out(DType::F16, {3})),
         {2, 2048, ToDouble(Half{FloatToHalf(1.1f)})});
  Expect("Mul bf16", Run1("Mul", {}, {Make<BFloat16>(DType::BF16, {2}, {3, 1.5}), Make<BFloat16>(DType::BF16, {2}, {2, 2})}, Out(DType::BF16, {2})), {6, 3});
  Expect("Div f64", Run1("Div", {}, {Make<double>(DType::F64, {1}, {1}), Make<double>(DType::F64, {1}, {3})}, Out(DType::F64, {1})), {1.0 / 3});
  // Comparisons and logic -> bool.
  Expect("Less i64", Run1("Less", {}, {I64({4}, {1, 2, 3, 4}), I64({1}, {3})}, Out(DType::Bool, {4})), {1, 1, 0, 0});
  Expect("Equal f32 NaN", Run1("Equal", {}, {F({2}, {NAN, 1}), F({2}, {NAN, 1})}, Out(DType::Bool, {2})), {0, 1});
  Expect("GreaterOrEqual u8", Run1("GreaterOrEqual", {}, {Make<uint8_t>(DType::U8, {3}, {1, 2, 3}), Make<uint8_t>(DType::U8, {3}, {2, 2, 2})}, Out(DType::Bool, {3})), {0, 1, 1});
  Expect("Equal bool", Run1("Equal", {}, {Make<bool>(DType::Bool, {2}, {1, 0}), Make<bool>(DType::Bool, {1}, {1})}, Out(DType::Bool, {2})), {1, 0});
  Expect("And", Run1("And", {}, {Make<bool>(DType::Bool, {4}, {0, 0, 1, 1}), Make<bool>(DType::Bool, {4}, {0, 1, 0, 1})}, Out(DType::Bool, {4})), {0, 0, 0, 1});
  Expect("Xor", Run1("Xor", {}, {Make<bool>(DType::Bool, {4}, {0, 0, 1, 1}), Make<bool>(DType::Bool, {4}, {0, 1, 0, 1})}, Out(DType::Bool, {4})), {0, 1, 1, 0});
  Expect("Not", Run1("Not", {}, {Make<bool>(DType::Bool, {2}, {0, 1})}, Out(DType::Bool, {2})), {1, 0});
  Expect("Where", Run1("Where", {}, {Make<bool>(DType::Bool, {2, 1}, {1, 0}), I64({3}, {1, 2, 3}), I64({1}, {-1})}, Out(DType::I64, {2, 3})), {1, 2, 3, -1, -1, -1});
  Expect("Where f16", Run1("Where", {}, {Make<bool>(DType::Bool, {2}, {1, 0}), Make<Half>(DType::F16, {2}, {1, 2}), Make<Half>(DType::F16, {2}, {3, 4})}, Out(DType::F16, {2})), {1, 4});
  Expect("Max variadic NaN", Run1("Max", {}, {F({3}, {1, NAN, 3}), F({1}, {2}), F({3, 1}, {0, 5, 0})}, Out(DType::F32, {3, 3})), {2, NAN, 3, 5, NAN, 5, 2, NAN, 3});
  Expect("Sum variadic i64", Run1("Sum", {}, {I64({2}, {1, 2}), I64({2}, {10, 20}), I64({1}, {100})}, Out(DType::I64, {2})), {111, 122});
  Expect("Mean", Run1("Mean", {}, {F({2}, {1, 2}), F({2}, {3, 5})}, Out(DType::F32, {2})), {2, 3.5});
  Expect("Min single", Run1("Min", {}, {F({2}, {1, 2})}, Out(DType::F32, {2})), {1, 2});
  Expect("Pow f32^i64", Run1("Pow", {}, {F({3}, {2, 3, 4}), I64({1}, {2})}, Out(DType::F32, {3})), {4, 9, 16});
  Expect("Pow i64^f32", Run1("Pow", {}, {I64({2}, {2, 3}), F({1}, {0.5})}, Out(DType::I64, {2})), {1, 1});
  Expect("BitShift", Run1("BitShift", {{"direction", AS("LEFT")}}, {Make<uint8_t>(DType::U8, {3}, {1, 1, 1}), Make<uint8_t>(DType::U8, {3}, {1, 7, 8})}, Out(DType::U8, {3})), {2, 128, 0});
  Expect("PRelu", Run1("PRelu", {}, {F({2, 2}, {-1, 1, -2, 2}), F({2, 1}, {0.5, 0.25})}, Out(DType::F32, {2, 2})), {-0.5, 1, -0.5, 2});
  // Unsupported dtype names op, dtype and node.
  std::vector<Tensor> ins{Make<bool>(DType::Bool, {1}, {1}), Make<bool>(DType::Bool, {1}, {1})}, outs{Out(DType::Bool, {1})};
  Status s = RunOp("Add", {}, ins, outs);
  CHECK(!s.ok() && std::string(s.code()) == MCPC_E_UNSUPPORTED && s.message().find("bool") != std::string::npos && s.message().find("/test/Add") != std::string::npos,
        "unsupported: %s", s.ToString().c_str());
}

void TestUnaryAccuracy() {
  struct U { simd::UnOp op; double (*f)(double); double lo, hi; double rel; double abs; const char* name; };
  const U us[] = {
      {simd::UnOp::Exp, [](double x) { return std::exp(x); }, -87, 88, 1e-6, 0, "exp"},
      {simd::UnOp::Sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, -80, 80, 1e-6, 0, "sigmoid"},
      {simd::UnOp::Tanh, [](double x) { return std::tanh(x); }, -12, 12, 1e-6, 0, "tanh"},
      {simd::UnOp::Erf, [](double x) { return std::erf(x); }, -6, 6, 1e-6, 0, "erf"},
      {simd::UnOp::GeluErf, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, -10, 10, 1e-6, 1e-6, "gelu"}  /* 1 - |erf| loses digits for x < -3 */,
      {simd::UnOp::GeluTanh, [](double x) { return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }, -10, 10, 1e-6, 1e-7, "gelu_tanh"},
      {simd::UnOp::Relu, [](double x) { return x > 0 ? x : 0; }, -10, 10, 0, 0, "relu"},
  };
  const int n = 200001;
  for (auto* ks : {simd::Avx2Kernels(), simd::Avx512Kernels(), simd::ScalarKernels()}) {
    for (const U& u : us) {
      std::vector<float> x(n), y(n);
      for (int i = 0; i < n; ++i) x[i] = static_cast<float>(u.lo + (u.hi - u.lo) * i / (n - 1));
      x[0] = 0; x[1] = -0.0f; x[2] = 1e-30f; x[3] = -1e-7f;
      ks->unary(u.op, x.data(), y.data(), n, 0, 0);
      double worst = 0;
      int at = 0;
      for (int i = 0; i < n; ++i) {
        double want = u.f(x[i]);
        double err = std::fabs(y[i] - want);
        double e = err <= u.abs ? 0 : err / std::max(std::fabs(want), 1e-30);
        if (e > worst) { worst = e; at = i; }
      }
      CHECK(worst <= std::max(u.rel, 1e-7) + 1e-7, "%s %s worst rel err %.3g at x=%.9g", ks->name, u.name, worst, x[at]);
      // Special values.
      float sp[5] = {NAN, INFINITY, -INFINITY, 100.f, -100.f}, so[5];
      ks->unary(u.op, sp, so, 5, 0, 0);
      if (u.op != simd::UnOp::Relu) CHECK(std::isnan(so[0]), "%s %s(NaN) = %g", ks->name, u.name, so[0]);
      for (int i = 1; i < 5; ++i) {
        double want = static_cast<float>(u.f(sp[i]));
        if (std::isnan(want)) continue;
        CHECK(std::fabs(so[i] - want) <= 1e-6 * std::max(1.0, std::fabs(want)) || so[i] == want, "%s %s(%g) = %g want %g", ks->name, u.name, sp[i], so[i], want);
      }
    }
  }
  // Kernel-level unary ops on several dtypes.
  Expect("Relu i64", Run1("Relu", {}, {I64({3}, {-2, 0, 3})}, Out(DType::I64, {3})), {0, 0, 3});
  Expect("Abs i8", Run1("Abs", {}, {Make<int8_t>(DType::I8, {3}, {-128, -3, 3})}, Out(DType::I8, {3})), {-128, 3, 3});
  Expect("Neg i32", Run1("Neg", {}, {Make<int32_t>(DType::I32, {2}, {5, -6})}, Out(DType::I32, {2})), {-5, 6});
  Expect("Sign f32", Run1("Sign", {}, {F({4}, {-2, 0, 3, NAN})}, Out(DType::F32, {4})), {-1, 0, 1, NAN});
  Expect("Round half even", Run1("Round", {}, {F({5}, {0.5, 1.5, 2.5, -0.5, -1.5})}, Out(DType::F32, {5})), {0, 2, 2, -0.0, -2});
  Expect("Floor/Ceil", Run1("Ceil", {}, {F({2}, {1.2, -1.2})}, Out(DType::F32, {2})), {2, -1});
  Expect("Exp f16", Run1("Exp", {}, {Make<Half>(DType::F16, {2}, {0, 1})}, Out(DType::F16, {2})), {1, ToDouble(Half{DoubleToHalf(std::exp(1.0))})});
  Expect("Sigmoid f64", Run1("Sigmoid", {}, {Make<double>(DType::F64, {1}, {-800})}, Out(DType::F64, {1})), {std::exp(-800.0)});
  Expect("LeakyRelu", Run1("LeakyRelu", {{"alpha", AF(0.1)}}, {F({2}, {-1, 1})}, Out(DType::F32, {2})), {-0.1, 1}, 1e-7);
  Expect("HardSigmoid", Run1("HardSigmoid", {}, {F({3}, {-10, 0, 10})}, Out(DType::F32, {3})), {0, 0.5, 1});
  Expect("IsNaN", Run1("IsNaN", {}, {F({2}, {NAN, 1})}, Out(DType::Bool, {2})), {1, 0});
  Expect("IsInf neg only", Run1("IsInf", {{"detect_positive", AI(0)}}, {F({3}, {INFINITY, -INFINITY, 1})}, Out(DType::Bool, {3})), {0, 1, 0});
  Expect("Gelu tanh", Run1("Gelu", {{"approximate", AS("tanh")}}, {F({1}, {1})}, Out(DType::F32, {1})), {0.8411920071}, 1e-6);
  Expect("Clip both", Run1("Clip", {}, {F({4}, {-5, 0, 5, NAN}), F({}, {-1}), F({}, {1})}, Out(DType::F32, {4})), {-1, 0, 1, NAN});
  Expect("Clip max only", Run1("Clip", {}, {F({3}, {-INFINITY, 0, 5}), Omitted(), F({}, {1})}, Out(DType::F32, {3})), {-INFINITY, 0, 1});
  Expect("Clip i64 min only", Run1("Clip", {}, {I64({3}, {-5, 0, 5}), I64({}, {0})}, Out(DType::I64, {3})), {0, 0, 5});
  Expect("Mish", Run1("Mish", {}, {F({1}, {1})}, Out(DType::F32, {1})), {0.8650983882673103}, 1e-6);
  // Parallel path: a big tensor over the pool matches a single-threaded run.
  auto xv = Rand(100003, -5, 5, 9);
  auto big = Run1("Tanh", {}, {F({100003}, xv)}, Out(DType::F32, {100003}));
  std::vector<double> want;
  for (double v : xv) want.push_back(std::tanh(v));
  Expect("Tanh big parallel", big, want, 2e-6);
}

void TestCast() {
  Expect("f32->i32 trunc/wrap", Run1("Cast", {}, {F({5}, {1.9, -1.9, 3e9, NAN, INFINITY})}, Out(DType::I32, {5})), {1, -1, 3e9 - 4294967296.0, 0, 0});
  Expect("f32->i64 saturate", Run1("Cast", {}, {F({3}, {1e19, -1e19, NAN})}, Out(DType::I64, {3})), {9223372036854775807.0, -9223372036854775808.0, 0});
  Expect("f32->u8 wrap", Run1("Cast", {}, {F({3}, {256, 257, -1})}, Out(DType::U8, {3})), {0, 1, 255});
  Expect("f32->bool NaN true", Run1("Cast", {}, {F({3}, {0, NAN, -0.0})}, Out(DType::Bool, {3})), {0, 1, 0});
  // f16 round to nearest even: 2049 is halfway between 2048 and 2050 -> 2048; 2051 -> 2052.
  Expect("f32->f16 RNE", Run1("Cast", {}, {F({6}, {2049, 2051, 65519, 65520, 1e-8, 5.960464477539063e-08})}, Out(DType::F16, {6})),
         {2048, 2052, 65504, INFINITY, 0, 5.960464477539063e-08});
  Expect("f64->f16 single rounding", Run1("Cast", {}, {Make<double>(DType::F64, {1}, {1.0 + 1.0 / 2048 + 1e-12})}, Out(DType::F16, {1})), {1.0 + 1.0 / 1024});
  Expect("f32->bf16 RNE", Run1("Cast", {}, {F({2}, {1.00390625, 1.01171875})}, Out(DType::BF16, {2})), {1.0, 1.015625});
  Expect("f16->f32", Run1("Cast", {}, {Make<Half>(DType::F16, {3}, {0.333251953125, -65504, 6.103515625e-05})}, Out(DType::F32, {3})), {0.333251953125, -65504, 6.103515625e-05});
  Expect("i64->i32 wrap", Run1("Cast", {}, {I64({2}, {4294967297.0, -1})}, Out(DType::I32, {2})), {1, -1});
  Expect("bool->f32", Run1("Cast", {}, {Make<bool>(DType::Bool, {2}, {1, 0})}, Out(DType::F32, {2})), {1, 0});
  Expect("i64->bool", Run1("CastLike", {}, {I64({3}, {0, 5, -1}), Make<bool>(DType::Bool, {1}, {0})}, Out(DType::Bool, {3})), {0, 1, 1});
  // Exhaustive f16 round trip: every f16 value survives f16->f32->f16.
  bool ok = true;
  for (uint32_t h = 0; h < 65536 && ok; ++h) {
    float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ok = FloatToHalf(f) == h && DoubleToHalf(f) == h;
    if (!ok) std::printf("  f16 0x%04x -> %g -> 0x%04x / 0x%04x\n", h, f, FloatToHalf(f), DoubleToHalf(f));
  }
  CHECK(ok, "f16 round trip");
  // Every dtype pair prepares and runs.
  int pairs = 0;
  for (int a = 0; a <= static_cast<int>(DType::Bool); ++a) {
    for (int b = 0; b <= static_cast<int>(DType::Bool); ++b) {
      std::vector<Tensor> ins{Out(static_cast<DType>(a), {3})}, outs{Out(static_cast<DType>(b), {3})};
      Status s = RunOp("Cast", {}, ins, outs);
      pairs += s.ok();
    }
  }
  CHECK(pairs == 169, "cast pairs %d", pairs);
}

std::vector<double> RefTranspose(const std::vector<int64_t>& dims, const std::vector<double>& v, const std::vector<int64_t>& perm) {
  const int r = dims.size();
  std::vector<int64_t> st(r), od(r);
  int64_t acc = 1;
  for (int k = r - 1; k >= 0; --k) { st[k] = acc; acc *= dims[k]; }
  for (int k = 0; k < r; ++k) od[k] = dims[perm[k]];
  std::vector<double> out;
  for (int64_t i = 0; i < acc; ++i) {
    int64_t rem = i, off = 0;
    for (int k = r - 1; k >= 0; --k) { off += (rem % od[k]) * st[perm[k]]; rem /= od[k]; }
    out.push_back(v[off]);
  }
  return out;
}

void TestMovement() {
  // Transposes: 2-D tiled, batched, NCHW<->NHWC, kept-last-dim, generic, with size-1 dims, every element size.
  struct T { std::vector<int64_t> dims, perm; };
  const T ts[] = {{{37, 45}, {1, 0}}, {{3, 70, 33}, {0, 2, 1}}, {{2, 3, 4, 5}, {0, 2, 3, 1}}, {{2, 3, 4, 5}, {0, 3, 1, 2}},
                  {{2, 3, 4, 5}, {0, 2, 1, 3}}, {{2, 3, 4, 5}, {3, 2, 1, 0}}, {{4, 1, 6, 1, 3}, {2, 4, 1, 0, 3}}, {{5}, {0}},
                  {{2, 3, 4, 5, 6}, {4, 0, 3, 1, 2}}, {{128, 256}, {1, 0}}};
  for (const T& t : ts) {
    auto v = Seq(Numel(t.dims));
    std::vector<int64_t> od;
    for (int64_t p : t.perm) od.push_back(t.dims[p]);
    for (DType dt : {DType::F32, DType::I64, DType::F16, DType::U8}) {
      std::vector<double> vv = v;
      if (dt == DType::U8) for (auto& x : vv) x = static_cast<uint8_t>(x);
      if (dt == DType::F16) for (auto& x : vv) x = ToDouble(Half{DoubleToHalf(x)});
      Tensor in;
      VisitDType(dt, [&](auto tag) { in = Make<typename decltype(tag)::type>(dt, t.dims, vv); });
      auto got = Run1("Transpose", {{"perm", AIs(t.perm)}}, {in}, Out(dt, od));
      Expect(std::string("Transpose ") + DTypeName(dt), got, RefTranspose(t.dims, vv, t.perm));
    }
  }
  Expect("Transpose default perm", Run1("Transpose", {}, {F({2, 3}, Seq(6))}, Out(DType::F32, {3, 2})), {0, 3, 1, 4, 2, 5});

  // Slice: negative steps, clamping, omitted axes, i32 params, non-constant params.
  auto x = Seq(20);  // [4, 5]
  Expect("Slice neg step", Run1("Slice", {}, {F({4, 5}, x), I64({2}, {-1, 4}, true), I64({2}, {-1000, 0}, true), I64({2}, {0, 1}, true), I64({2}, {-2, -3}, true)},
                                 Out(DType::F32, {2, 2})), {19, 16, 9, 6});
  Expect("Slice clamp", Run1("Slice", {}, {F({4, 5}, x), I64({1}, {1}, true), I64({1}, {9.3e18}, true), I64({1}, {-1}, true)}, Out(DType::F32, {4, 4})),
         {1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17, 18, 19});
  Expect("Slice runtime i32", Run1("Slice", {}, {F({4, 5}, x), Make<int32_t>(DType::I32, {1}, {3}), Make<int32_t>(DType::I32, {1}, {0}), Omitted(), Make<int32_t>(DType::I32, {1}, {-1})},
                                   Out(DType::F32, {3, 5})), {15, 16, 17, 18, 19, 10, 11, 12, 13, 14, 5, 6, 7, 8, 9});
  Expect("Slice reverse all", Run1("Slice", {}, {I64({5}, Seq(5)), I64({1}, {-1}, true), I64({1}, {-9.3e18}, true), I64({1}, {0}, true), I64({1}, {-1}, true)}, Out(DType::I64, {5})),
         {4, 3, 2, 1, 0});
  {
    std::vector<Tensor> ins{F({4, 5}, x), I64({1}, {0}), I64({1}, {2})}, outs{Out(DType::F32, {3, 5})};
    Status s = RunOp("Slice", {}, ins, outs);
    CHECK(!s.ok() && std::string(s.code()) == MCPC_E_KERNEL, "slice mismatch: %s", s.ToString().c_str());
  }

  // Gather: axis, negative indices, i32 indices, out-of-range error.
  Expect("Gather axis0", Run1("Gather", {}, {F({3, 2}, Seq(6)), I64({2, 2}, {0, -1, 2, 1})}, Out(DType::F32, {2, 2, 2})), {0, 1, 4, 5, 4, 5, 2, 3});
  Expect("Gather axis1 i32", Run1("Gather", {{"axis", AI(1)}}, {F({2, 3}, Seq(6)), Make<int32_t>(DType::I32, {2}, {2, 0})}, Out(DType::F32, {2, 2})), {2, 0, 5, 3});
  Expect("Gather scalar idx", Run1("Gather", {}, {I64({3}, {7, 8, 9}), I64({}, {-3})}, Out(DType::I64, {})), {7});
  for (double bad : {3.0, -4.0}) {
    std::vector<Tensor> ins{F({3, 2}, Seq(6)), I64({2}, {0, bad})}, outs{Out(DType::F32, {2, 2})};
    Status s = RunOp("Gather", {}, ins, outs);
    CHECK(!s.ok() && std::string(s.code()) == MCPC_E_KERNEL && s.message().find("out of range") != std::string::npos, "gather bounds: %s", s.ToString().c_str());
  }
  {
    std::vector<Tensor> ins{F({2, 2}, Seq(4)), I64({2, 2}, {0, 5, 1, 0})}, outs{Out(DType::F32, {2, 2})};
    Status s = RunOp("GatherElements", {{"axis", AI(1)}}, ins, outs);
    CHECK(!s.ok() && std::string(s.code()) == MCPC_E_KERNEL, "gatherelements bounds: %s", s.ToString().c_str());
  }
  Expect("GatherElements", Run1("GatherElements", {{"axis", AI(1)}}, {F({2, 2}, {1, 2, 3, 4}), I64({2, 2}, {0, 0, 1, 0})}, Out(DType::F32, {2, 2})), {1, 1, 4, 3});
  Expect("GatherND", Run1("GatherND", {}, {F({2, 2}, {0, 1, 2, 3}), I64({2, 1}, {1, 0})}, Out(DType::F32, {2, 2})), {2, 3, 0, 1});
  Expect("GatherND batch", Run1("GatherND", {{"batch_dims", AI(1)}}, {F({2, 2, 2}, Seq(8)), I64({2, 1}, {1, 0})}, Out(DType::F32, {2, 2})), {2, 3, 4, 5});
  Expect("ScatterND add", Run1("ScatterND", {{"reduction", AS("add")}}, {F({4}, {1, 2, 3, 4}), I64({2, 1}, {1, 1}), F({2}, {10, 20})}, Out(DType::F32, {4})), {1, 32, 3, 4});
  Expect("ScatterElements", Run1("ScatterElements", {{"axis", AI(1)}}, {F({1, 5}, {1, 2, 3, 4, 5}), I64({1, 2}, {1, -2}), F({1, 2}, {1.1, 2.1})}, Out(DType::F32, {1, 5})),
         {1, 1.1, 3, 2.1, 5}, 1e-7);

  // Concat / Split / Expand / Tile.
  Expect("Concat axis1", Run1("Concat", {{"axis", AI(1)}}, {F({2, 1}, {0, 1}), F({2, 2}, {2, 3, 4, 5}), F({2, 0}, {0})}, Out(DType::F32, {2, 3})), {0, 2, 3, 1, 4, 5});
  {
    std::vector<Tensor> ins{I64({2, 3}, Seq(6))}, outs{Out(DType::I64, {2, 1}), Out(DType::I64, {2, 2})};
    Status s = RunOp("Split", {{"axis", AI(-1)}}, ins, outs);
    CHECK(s.ok(), "split");
    Expect("Split 0", Vals(outs[0]), {0, 3});
    Expect("Split 1", Vals(outs[1]), {1, 2, 4, 5});
  }
  Expect("Expand", Run1("Expand", {}, {F({3, 1}, {1, 2, 3}), I64({3}, {2, 1, 2}, true)}, Out(DType::F32, {2, 3, 2})), {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
  Expect("Tile", Run1("Tile", {}, {F({2, 2}, {1, 2, 3, 4}), I64({2}, {2, 2}, true)}, Out(DType::F32, {4, 4})), {1, 2, 1, 2, 3, 4, 3, 4, 1, 2, 1, 2, 3, 4, 3, 4});

  // Pad modes, negative pads.
  Expect("Pad constant", Run1("Pad", {}, {F({2, 2}, {1, 2, 3, 4}), I64({4}, {0, 1, 1, 0}, true), F({}, {9})}, Out(DType::F32, {3, 3})), {9, 1, 2, 9, 3, 4, 9, 9, 9});
  Expect("Pad reflect", Run1("Pad", {{"mode", AS("reflect")}}, {F({3}, {1, 2, 3}), I64({2}, {2, 2}, true)}, Out(DType::F32, {7})), {3, 2, 1, 2, 3, 2, 1});
  Expect("Pad edge", Run1("Pad", {{"mode", AS("edge")}}, {F({3}, {1, 2, 3}), I64({2}, {2, 1}, true)}, Out(DType::F32, {6})), {1, 1, 1, 2, 3, 3});
  Expect("Pad wrap", Run1("Pad", {{"mode", AS("wrap")}}, {F({3}, {1, 2, 3}), I64({2}, {2, 1})}, Out(DType::F32, {6})), {2, 3, 1, 2, 3, 1});
  Expect("Pad crop", Run1("Pad", {}, {F({4}, {1, 2, 3, 4}), I64({2}, {-1, 1}, true)}, Out(DType::F32, {4})), {2, 3, 4, 0});
  Expect("Pad axes", Run1("Pad", {}, {F({2, 2}, {1, 2, 3, 4}), I64({2}, {1, 0}, true), Omitted(), I64({1}, {-1}, true)}, Out(DType::F32, {2, 3})), {0, 1, 2, 0, 3, 4});

  // Layout and generation ops.
  Expect("DepthToSpace DCR", Run1("DepthToSpace", {{"blocksize", AI(2)}}, {F({1, 4, 1, 1}, {0, 1, 2, 3})}, Out(DType::F32, {1, 1, 2, 2})), {0, 1, 2, 3});
  Expect("DepthToSpace CRD", Run1("DepthToSpace", {{"blocksize", AI(2)}, {"mode", AS("CRD")}}, {F({1, 8, 1, 1}, Seq(8))}, Out(DType::F32, {1, 2, 2, 2})), Seq(8));
  {
    auto v = Seq(2 * 2 * 4 * 6);
    auto s2d = Run1("SpaceToDepth", {{"blocksize", AI(2)}}, {F({2, 2, 4, 6}, v)}, Out(DType::F32, {2, 8, 2, 3}));
    std::vector<double> back;
    {
      std::vector<Tensor> ins{F({2, 8, 2, 3}, s2d)}, outs{Out(DType::F32, {2, 2, 4, 6})};
      CHECK(RunOp("DepthToSpace", {{"blocksize", AI(2)}}, ins, outs).ok(), "d2s");
      back = Vals(outs[0]);
    }
    Expect("SpaceToDepth/DepthToSpace round trip", back, v);
  }
  Expect("Trilu upper k=1", Run1("Trilu", {}, {F({3, 3}, Seq(9, 1)), I64({}, {1})}, Out(DType::F32, {3, 3})), {0, 2, 3, 0, 0, 6, 0, 0, 0});
  Expect("Trilu lower", Run1("Trilu", {{"upper", AI(0)}}, {F({2, 3}, Seq(6, 1))}, Out(DType::F32, {2, 3})), {1, 0, 0, 4, 5, 0});
  Expect("OneHot", Run1("OneHot", {}, {I64({3}, {0, -1, 5}), I64({}, {3}), F({2}, {0, 1})}, Out(DType::F32, {3, 3})), {1, 0, 0, 0, 0, 1, 0, 0, 0});
  {
    std::vector<Tensor> ins{F({2, 4}, {1, 3, 3, 2, NAN, 0, 5, 5}), I64({1}, {2})}, outs{Out(DType::F32, {2, 2}), Out(DType::I64, {2, 2})};
    CHECK(RunOp("TopK", {}, ins, outs).ok(), "topk");
    Expect("TopK values", Vals(outs[0]), {3, 3, NAN, 5});
    Expect("TopK indices", Vals(outs[1]), {1, 2, 0, 2});
  }
  Expect("CumSum excl rev", Run1("CumSum", {{"exclusive", AI(1)}, {"reverse", AI(1)}}, {I64({4}, {1, 2, 3, 4}), I64({}, {0})}, Out(DType::I64, {4})), {9, 7, 4, 0});
  Expect("CumSum axis1", Run1("CumSum", {}, {F({2, 2}, {1, 2, 3, 4}), Make<int32_t>(DType::I32, {}, {-1})}, Out(DType::F32, {2, 2})), {1, 3, 3, 7});
  Expect("Range f32", Run1("Range", {}, {F({}, {1}), F({}, {2}), F({}, {0.25})}, Out(DType::F32, {4})), {1, 1.25, 1.5, 1.75});
  Expect("Range i64 down", Run1("Range", {}, {I64({}, {10}), I64({}, {4}), I64({}, {-3})}, Out(DType::I64, {2})), {10, 7});
  Expect("Shape", Run1("Shape", {{"start", AI(-2)}}, {F({2, 3, 4}, {0})}, Out(DType::I64, {2})), {3, 4});
  Expect("Size", Run1("Size", {}, {F({2, 3, 4}, {0})}, Out(DType::I64, {})), {24});
  {
    AttrValue v;
    v.kind = AttrValue::Kind::Tensor;
    v.floats = {7};
    v.tensorDtype = DType::I32;
    Expect("ConstantOfShape", Run1("ConstantOfShape", {{"value", v}}, {I64({2}, {2, 2}, true)}, Out(DType::I32, {2, 2})), {7, 7, 7, 7});
  }
  Expect("Dropout mask", Run1("Identity", {}, {F({2}, {1, 2})}, Out(DType::F32, {2})), {1, 2});
  {
    std::vector<Tensor> ins{F({2}, {1, 2})}, outs{Out(DType::F32, {2}), Out(DType::Bool, {2})};
    CHECK(RunOp("Dropout", {}, ins, outs).ok(), "dropout");
    Expect("Dropout mask true", Vals(outs[1]), {1, 1});
  }
}

int main() {
  std::printf("f32 kernels: %s\n", simd::Best().name);
  TestBroadcast();
  TestIntegerAndOtherDtypes();
  TestUnaryAccuracy();
  TestCast();
  TestMovement();
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
