// Standalone Conv tests and benchmark: conv::CreateKernel with every fused tail (bias, residual add,
// Relu, Clip, a residual in the output's own buffer) on the GEMM paths (pointwise, vectorized
// im2col, row-wise im2col), the depthwise paths and grouped convolutions, against a naive
// double-precision loop, on 1 and 2 threads and every GEMM kernel set this machine has.
//   native/tests/build.sh && /tmp/mcpc-kernel-tests/conv_test [bench [threads [reps]]]
// Bench mode times the convolutions of ResNet-50 and MobileNet-V2 (batch 1) with their fused tails
// (CONV_BENCH_MODEL=resnet50 for one model, CONV_BENCH_MATCH="512->512 k3 s1 7" for one shape): the
// best of `reps` rounds of 5 runs, since on a shared machine the minimum is the steadiest figure.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernel.h"
#include "kernels/conv.h"
#include "kernels/gemm.h"
#include "thread_pool.h"

using namespace mcpc;
using Shape = std::vector<int64_t>;

namespace {

std::mt19937 rng(11);
int failures = 0, cases = 0;

int64_t Numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::vector<float> Rand(int64_t n) {
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct Case {
  int64_t N, C, M, group;
  Shape in, k, strides, dil, pads;  // pads: begins then ends
};

enum class TailKind { None, Relu, Clip, Residual, ResidualRelu, ResidualInPlace };
const char* TailName(TailKind t) {
  switch (t) {
    case TailKind::None: return "none";
    case TailKind::Relu: return "relu";
    case TailKind::Clip: return "clip";
    case TailKind::Residual: return "residual";
    case TailKind::ResidualRelu: return "residual+relu";
    case TailKind::ResidualInPlace: return "residual-in-place+clip";
  }
  return "?";
}

Shape OutShape(const Case& c) {
  const size_t n = c.in.size();
  Shape ys{c.N, c.M};
  for (size_t i = 0; i < n; ++i) ys.push_back((c.in[i] + c.pads[i] + c.pads[n + i] - ((c.k[i] - 1) * c.dil[i] + 1)) / c.strides[i] + 1);
  return ys;
}

/** Naive reference over up to 3 spatial dims (leading 1s), with bias, then residual and clamp. */
std::vector<double> Reference(const Case& c, const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>* b,
                              const std::vector<float>* res, float lo, float hi) {
  const size_t n = c.in.size();
  const Shape ys = OutShape(c);
  auto at3 = [&](const Shape& s, size_t i, int64_t fill, size_t off = 0) { return i + n >= 3 ? s[off + i + n - 3] : fill; };
  Shape outSp(ys.begin() + 2, ys.end());
  const int64_t D = at3(c.in, 0, 1), H = at3(c.in, 1, 1), W = at3(c.in, 2, 1);
  const int64_t OD = at3(outSp, 0, 1), OH = at3(outSp, 1, 1), OW = at3(outSp, 2, 1);
  const int64_t KD = at3(c.k, 0, 1), KH = at3(c.k, 1, 1), KW = at3(c.k, 2, 1);
  const int64_t SD = at3(c.strides, 0, 1), SH = at3(c.strides, 1, 1), SW = at3(c.strides, 2, 1);
  const int64_t DD = at3(c.dil, 0, 1), DH = at3(c.dil, 1, 1), DW = at3(c.dil, 2, 1);
  const int64_t PD = at3(c.pads, 0, 0), PH = at3(c.pads, 1, 0), PW = at3(c.pads, 2, 0);
  const int64_t Cg = c.C / c.group, Mg = c.M / c.group;
  std::vector<double> ref;
  for (int64_t nn = 0; nn < c.N; ++nn) {
    for (int64_t m = 0; m < c.M; ++m) {
      const int64_t g = m / Mg;
      for (int64_t od = 0; od < OD; ++od) for (int64_t oh = 0; oh < OH; ++oh) for (int64_t ow = 0; ow < OW; ++ow) {
        double s = b ? (*b)[m] : 0;
        for (int64_t ci = 0; ci < Cg; ++ci) for (int64_t kd = 0; kd < KD; ++kd) for (int64_t kh = 0; kh < KH; ++kh) for (int64_t kw = 0; kw < KW; ++kw) {
          const int64_t id = od * SD - PD + kd * DD, ih = oh * SH - PH + kh * DH, iw = ow * SW - PW + kw * DW;
          if (id < 0 || id >= D || ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
          s += double(x[(((nn * c.C + g * Cg + ci) * D + id) * H + ih) * W + iw]) * w[(((m * Cg + ci) * KD + kd) * KH + kh) * KW + kw];
        }
        if (res) s += (*res)[ref.size()];
        ref.push_back(std::min<double>(std::max<double>(s, lo), hi));
      }
    }
  }
  return ref;
}

struct Harness {
  Plan plan;
  KernelSpec spec;
  std::vector<float> x, w, b, res, y;
  std::unique_ptr<Kernel> kernel;
  std::vector<TensorView> iv, ov;
  bool inPlace = false;

  Slot& AddSlot(const Shape& s, SlotKind kind) {
    Slot sl;
    sl.id = static_cast<int>(plan.slots.size());
    sl.shape = s;
    sl.byteLength = Numel(s) * sizeof(float);
    sl.kind = kind;
    plan.slots.push_back(sl);
    return plan.slots.back();
  }

  /** Creates the kernel; false (with a message) when it refuses. */
  bool Make(const Case& c, bool bias, bool constW, TailKind t) {
    const size_t n = c.in.size();
    Shape xs{c.N, c.C}, ws{c.M, c.C / c.group};
    for (size_t i = 0; i < n; ++i) {
      xs.push_back(c.in[i]);
      ws.push_back(c.k[i]);
    }
    const Shape ys = OutShape(c);
    x = Rand(Numel(xs));
    w = Rand(Numel(ws));
    b = Rand(c.M);
    res = Rand(Numel(ys));
    y.assign(Numel(ys), NAN);
    spec.op = "Conv";
    spec.source = "/test/Conv";
    auto ints = [](Shape v) {
      AttrValue a;
      a.kind = AttrValue::Kind::Ints;
      a.ints = v;
      return a;
    };
    AttrValue g;
    g.i = c.group;
    spec.attrs = {{"group", g}, {"strides", ints(c.strides)}, {"dilations", ints(c.dil)}, {"pads", ints(c.pads)}};
    const bool withRes = t == TailKind::Residual || t == TailKind::ResidualRelu || t == TailKind::ResidualInPlace;
    inPlace = t == TailKind::ResidualInPlace;
    spec.inputs = {AddSlot(xs, SlotKind::Arena).id, AddSlot(ws, constW ? SlotKind::Weight : SlotKind::Arena).id,
                   bias ? AddSlot({c.M}, SlotKind::Weight).id : -1};
    if (withRes) spec.inputs.push_back(AddSlot(ys, SlotKind::Arena).id);
    spec.outputs = {AddSlot(ys, SlotKind::Arena).id};
    conv::Tail tail;
    tail.residual = withRes;
    if (t == TailKind::Relu || t == TailKind::ResidualRelu) tail.act = gemm::Epilogue::Act::Relu;
    if (t == TailKind::Clip || t == TailKind::ResidualInPlace) {
      tail.act = gemm::Epilogue::Act::Clip;
      tail.clipMin = -0.5f;
      tail.clipMax = 0.75f;
    }
    PrepareContext pc{spec, plan, {}};
    pc.constantInput = [this, constW](size_t i) -> const void* { return i == 1 && constW ? w.data() : nullptr; };
    auto made = conv::CreateKernel(pc, tail);
    if (!made.ok()) {
      std::printf("FAIL create: %s\n", made.status().ToString().c_str());
      return false;
    }
    kernel = made.take();
    auto view = [this](void* p, int slot) {
      TensorView v;
      v.data = p;
      v.shape = &plan.slots[slot].shape;
      v.numel = Numel(plan.slots[slot].shape);
      return v;
    };
    iv = {view(x.data(), spec.inputs[0]), view(w.data(), spec.inputs[1]), bias ? view(b.data(), spec.inputs[2]) : TensorView{}};
    if (withRes) iv.push_back(view(inPlace ? y.data() : res.data(), spec.inputs[3]));
    ov = {view(y.data(), spec.outputs[0])};
    return true;
  }

  Status Run(ThreadPool* pool) {
    if (inPlace) std::copy(res.begin(), res.end(), y.begin());
    RunContext rc;
    rc.pool = pool;
    return kernel->Run(iv, ov, rc);
  }
};

void Check(const Case& c, bool bias, bool constW, TailKind t, ThreadPool* pool) {
  Harness h;
  ++cases;
  std::string name = "Conv C" + std::to_string(c.C) + " M" + std::to_string(c.M) + " g" + std::to_string(c.group) + " in";
  for (auto d : c.in) name += " " + std::to_string(d);
  name += " k" + std::to_string(c.k.back()) + " s" + std::to_string(c.strides.back()) + " d" + std::to_string(c.dil.back()) +
          (bias ? " bias" : "") + (constW ? " constW" : "") + " tail " + TailName(t) + " threads " + std::to_string(pool->threads());
  if (!h.Make(c, bias, constW, t)) {
    ++failures;
    return;
  }
  float lo = -INFINITY, hi = INFINITY;
  if (t == TailKind::Relu || t == TailKind::ResidualRelu) lo = 0;
  if (t == TailKind::Clip || t == TailKind::ResidualInPlace) lo = -0.5f, hi = 0.75f;
  const bool withRes = t == TailKind::Residual || t == TailKind::ResidualRelu || t == TailKind::ResidualInPlace;
  const std::vector<double> ref = Reference(c, h.x, h.w, bias ? &h.b : nullptr, withRes ? &h.res : nullptr, lo, hi);
  // Twice: kernels must not depend on state left by a previous run.
  for (int rep = 0; rep < 2; ++rep) {
    Status s = h.Run(pool);
    if (!s.ok()) {
      ++failures;
      std::printf("FAIL %s: %s\n", name.c_str(), s.ToString().c_str());
      return;
    }
    double worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(h.y[i] - ref[i]) / (1 + std::fabs(ref[i])));
    if (!(worst <= 1e-5 * (1 + std::sqrt(double(c.C / c.group * Numel(c.k)))))) {
      ++failures;
      std::printf("FAIL %s: max error %g\n", name.c_str(), worst);
      return;
    }
  }
}

void Tests() {
  const Case cs[] = {
      // pointwise, and 1x1 with stride (vectorized im2col straight from X)
      {1, 16, 32, 1, {14, 14}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {2, 24, 20, 1, {15, 9}, {1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
      // 3x3 pad 1 at widths around the vector widths (segments that cross 1-4 output rows)
      {1, 8, 24, 1, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 5, 9, 1, {14, 14}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {2, 6, 17, 1, {17, 33}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 7, 8, 1, {3, 1}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 3, 16, 1, {1, 40}, {1, 3}, {1, 1}, {1, 1}, {0, 1, 0, 1}},
      // strides 2 and 3, asymmetric pads, dilations
      {1, 9, 16, 1, {28, 28}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {1, 3, 16, 1, {38, 35}, {7, 7}, {2, 2}, {1, 1}, {3, 3, 3, 3}},
      {1, 4, 12, 1, {23, 19}, {3, 2}, {3, 3}, {1, 1}, {0, 1, 2, 0}},
      {1, 6, 10, 1, {16, 21}, {3, 3}, {1, 2}, {2, 3}, {2, 1, 0, 2}},
      {1, 5, 7, 1, {9, 31}, {2, 2}, {2, 1}, {1, 1}, {0, 0, 1, 1}},
      // more rows than one K block (kc = 256), long columns
      {1, 40, 33, 1, {12, 11}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 30, 8, 1, {45, 47}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      // small planes that are not whole vectors: Y^T = col^T x W^T (pointwise, stride 2, dilation,
      // groups, more rows than one K block)
      {1, 8, 32, 1, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 16, 48, 1, {14, 14}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {2, 12, 16, 1, {13, 13}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {1, 20, 32, 1, {14, 14}, {1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
      {1, 16, 32, 2, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 6, 16, 1, {11, 9}, {3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}},
      {1, 40, 16, 1, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 64, 48, 1, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 520, 32, 1, {5, 5}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {1, 7, 32, 1, {5, 3, 3}, {3, 1, 3}, {1, 1, 3}, {1, 1, 1}, {1, 0, 1, 1, 0, 1}},
      // wide column matrices, packed inside the GEMM's tasks (pointwise, 3x3 stride 2, 7x7 stride 2)
      {1, 12, 20, 1, {30, 31}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {1, 5, 24, 1, {64, 60}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {1, 3, 16, 1, {70, 66}, {7, 7}, {2, 2}, {1, 1}, {3, 3, 3, 3}},
      // 1-D and 3-D
      {1, 5, 7, 1, {13}, {4}, {3}, {2}, {1, 2}},
      {2, 3, 6, 1, {40}, {3}, {1}, {1}, {1, 1}},
      {1, 4, 5, 1, {5, 6, 7}, {2, 3, 2}, {1, 2, 1}, {1, 1, 2}, {1, 0, 1, 0, 1, 1}},
      {1, 3, 4, 1, {4, 9, 18}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}},
      // groups and depthwise (SIMD planes, stride 3 and dilation fall back to the generic loop)
      {2, 8, 12, 4, {10, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 16, 16, 16, {13, 17}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 8, 16, 8, {14, 15}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {1, 6, 6, 6, {12, 12}, {3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}},
  };
  ThreadPool pool1(1), pool2(2);
  for (const Case& c : cs) {
    for (TailKind t : {TailKind::None, TailKind::Relu, TailKind::Clip, TailKind::Residual, TailKind::ResidualRelu, TailKind::ResidualInPlace}) {
      const int variant = static_cast<int>(t);
      Check(c, variant % 2 == 0, variant < 3, t, variant % 3 == 1 ? &pool1 : &pool2);
    }
  }
}

// ---- Benchmark ----------------------------------------------------------------------------------

struct BenchConv {
  const char* model;
  int64_t C, M, k, s, hw, group, count;
  TailKind tail;
};

void Bench(int threads, int reps) {
  // ResNet-50 (bias + Relu, the last conv of a block with the residual) and MobileNet-V2 (Clip = ReLU6).
  const BenchConv convs[] = {
      {"resnet50", 3, 64, 7, 2, 224, 1, 1, TailKind::Relu},      {"resnet50", 64, 64, 1, 1, 56, 1, 1, TailKind::Relu},
      {"resnet50", 64, 64, 3, 1, 56, 1, 3, TailKind::Relu},      {"resnet50", 64, 256, 1, 1, 56, 1, 4, TailKind::ResidualRelu},
      {"resnet50", 256, 64, 1, 1, 56, 1, 2, TailKind::Relu},     {"resnet50", 256, 128, 1, 1, 56, 1, 1, TailKind::Relu},
      {"resnet50", 128, 128, 3, 2, 56, 1, 1, TailKind::Relu},    {"resnet50", 256, 512, 1, 2, 56, 1, 1, TailKind::None},
      {"resnet50", 128, 512, 1, 1, 28, 1, 4, TailKind::ResidualRelu}, {"resnet50", 512, 128, 1, 1, 28, 1, 3, TailKind::Relu},
      {"resnet50", 128, 128, 3, 1, 28, 1, 3, TailKind::Relu},    {"resnet50", 512, 256, 1, 1, 28, 1, 1, TailKind::Relu},
      {"resnet50", 256, 256, 3, 2, 28, 1, 1, TailKind::Relu},    {"resnet50", 512, 1024, 1, 2, 28, 1, 1, TailKind::None},
      {"resnet50", 256, 1024, 1, 1, 14, 1, 6, TailKind::ResidualRelu}, {"resnet50", 1024, 256, 1, 1, 14, 1, 5, TailKind::Relu},
      {"resnet50", 256, 256, 3, 1, 14, 1, 5, TailKind::Relu},    {"resnet50", 1024, 512, 1, 1, 14, 1, 1, TailKind::Relu},
      {"resnet50", 512, 512, 3, 2, 14, 1, 1, TailKind::Relu},    {"resnet50", 1024, 2048, 1, 2, 14, 1, 1, TailKind::None},
      {"resnet50", 512, 2048, 1, 1, 7, 1, 3, TailKind::ResidualRelu}, {"resnet50", 2048, 512, 1, 1, 7, 1, 2, TailKind::Relu},
      {"resnet50", 512, 512, 3, 1, 7, 1, 2, TailKind::Relu},
      {"mobilenet_v2", 3, 32, 3, 2, 224, 1, 1, TailKind::Clip},  {"mobilenet_v2", 32, 32, 3, 1, 112, 32, 1, TailKind::Clip},
      {"mobilenet_v2", 32, 16, 1, 1, 112, 1, 1, TailKind::None}, {"mobilenet_v2", 16, 96, 1, 1, 112, 1, 1, TailKind::Clip},
      {"mobilenet_v2", 96, 96, 3, 2, 112, 96, 1, TailKind::Clip}, {"mobilenet_v2", 96, 24, 1, 1, 56, 1, 1, TailKind::None},
      {"mobilenet_v2", 24, 144, 1, 1, 56, 1, 2, TailKind::Clip}, {"mobilenet_v2", 144, 144, 3, 1, 56, 144, 1, TailKind::Clip},
      {"mobilenet_v2", 144, 24, 1, 1, 56, 1, 1, TailKind::Residual}, {"mobilenet_v2", 144, 144, 3, 2, 56, 144, 1, TailKind::Clip},
      {"mobilenet_v2", 144, 32, 1, 1, 28, 1, 1, TailKind::None}, {"mobilenet_v2", 32, 192, 1, 1, 28, 1, 3, TailKind::Clip},
      {"mobilenet_v2", 192, 192, 3, 1, 28, 192, 2, TailKind::Clip}, {"mobilenet_v2", 192, 32, 1, 1, 28, 1, 2, TailKind::Residual},
      {"mobilenet_v2", 192, 192, 3, 2, 28, 192, 1, TailKind::Clip}, {"mobilenet_v2", 192, 64, 1, 1, 14, 1, 1, TailKind::None},
      {"mobilenet_v2", 64, 384, 1, 1, 14, 1, 4, TailKind::Clip}, {"mobilenet_v2", 384, 384, 3, 1, 14, 384, 4, TailKind::Clip},
      {"mobilenet_v2", 384, 64, 1, 1, 14, 1, 3, TailKind::Residual}, {"mobilenet_v2", 384, 96, 1, 1, 14, 1, 1, TailKind::None},
      {"mobilenet_v2", 96, 576, 1, 1, 14, 1, 3, TailKind::Clip}, {"mobilenet_v2", 576, 576, 3, 1, 14, 576, 2, TailKind::Clip},
      {"mobilenet_v2", 576, 96, 1, 1, 14, 1, 2, TailKind::Residual}, {"mobilenet_v2", 576, 576, 3, 2, 14, 576, 1, TailKind::Clip},
      {"mobilenet_v2", 576, 160, 1, 1, 7, 1, 1, TailKind::None}, {"mobilenet_v2", 160, 960, 1, 1, 7, 1, 3, TailKind::Clip},
      {"mobilenet_v2", 960, 960, 3, 1, 7, 960, 3, TailKind::Clip}, {"mobilenet_v2", 960, 160, 1, 1, 7, 1, 2, TailKind::Residual},
      {"mobilenet_v2", 960, 320, 1, 1, 7, 1, 1, TailKind::None}, {"mobilenet_v2", 320, 1280, 1, 1, 7, 1, 1, TailKind::Clip},
  };
  ThreadPool pool(threads);
  const char* only = std::getenv("CONV_BENCH_MODEL");
  std::string model;
  double total = 0;
  auto flush = [&] {
    if (!model.empty()) std::printf("%-12s total %8.3f ms\n", model.c_str(), total);
    total = 0;
  };
  for (const BenchConv& b : convs) {
    if (only && model.empty() && std::string(b.model) != only) continue;
    if (only && std::string(b.model) != only) break;
    if (model != b.model) {
      flush();
      model = b.model;
    }
    if (const char* match = std::getenv("CONV_BENCH_MATCH")) {
      char label[64];
      std::snprintf(label, sizeof label, "%ld->%ld k%ld s%ld %ld", (long)b.C, (long)b.M, (long)b.k, (long)b.s, (long)b.hw);
      if (std::string(label) != match) continue;
    }
    const int64_t p = b.k / 2;
    Case c{1, b.C, b.M, b.group, {b.hw, b.hw}, {b.k, b.k}, {b.s, b.s}, {1, 1}, {p, p, p, p}};
    Harness h;
    if (!h.Make(c, true, true, b.tail)) continue;
    for (int i = 0; i < 3; ++i) h.Run(&pool);
    double best = 1e30;
    const int iters = 5;
    for (int rep = 0; rep < reps; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < iters; ++i) h.Run(&pool);
      best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iters);
    }
    const Shape ys = OutShape(c);
    const double flops = 2.0 * Numel(ys) * (b.C / b.group) * b.k * b.k;
    std::printf("%-12s %4ld->%4ld k%ld s%ld g%-4ld %3ld x%ld %-14s %7.3f ms %6.1f GFLOP/s\n", b.model, (long)b.C, (long)b.M, (long)b.k,
                (long)b.s, (long)b.group, (long)b.hw, (long)b.count, TailName(b.tail), best, flops / best * 1e-6);
    total += best * b.count;
  }
  flush();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "bench") == 0) {
    Bench(argc > 2 ? std::atoi(argv[2]) : 1, argc > 3 ? std::atoi(argv[3]) : 10);
    return 0;
  }
  for (const char* arch : {"avx512", "avx2", "portable"}) {
    if (!gemm::ForceArch(arch)) {
      std::printf("skip %s (not supported here)\n", arch);
      continue;
    }
    const int before = failures;
    Tests();
    std::printf("%s: %d conv cases so far, %d failed\n", arch, cases, failures - before);
  }
  std::printf(failures ? "CONV TESTS FAILED: %d\n" : "all conv tests passed\n", failures);
  return failures ? 1 : 0;
}
