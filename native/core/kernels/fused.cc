// Fused kernels. 'Elementwise' is one StepProgram over the output. An anchored kernel runs its
// anchor (the registry's kernel for the op, prepared on a small plan holding only the anchor's own
// operands) and then the epilogue program in place over its result, chunk by chunk; a prologue is
// evaluated first into a scratch buffer that becomes the anchor's input 0. A MatMul with a
// constant 2-D f32 weight runs its GEMM here instead, so that a leading bias add, residual add and
// Relu/Clip of the epilogue are applied to each C tile while it is in registers (gemm::Epilogue);
// the steps after them, if any, still run as a program. A Conv anchor likewise takes a leading
// residual add and Relu/Clip into its own kernel (conv::Tail).
#include "fused.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "conv.h"
#include "elementwise.h"
#include "fused_program.h"
#include "gemm.h"

namespace mcpc {
namespace fused {

namespace {

struct ByteBuffer {
  struct Free { void operator()(uint8_t* p) const { std::free(p); } };
  std::unique_ptr<uint8_t, Free> ptr;
  Status Allocate(size_t n) {
    ptr.reset(static_cast<uint8_t*>(std::aligned_alloc(64, std::max<size_t>(64, (n + 63) / 64 * 64))));
    return ptr ? Status::Ok() : MCPC_ERROR(MCPC_E_OUT_OF_MEMORY, "cannot allocate a %zu-byte fused scratch buffer", n);
  }
  uint8_t* data() const { return ptr.get(); }
};

/** Whether a prologue or epilogue step of `spec` reads kernel input `i` (at run time). */
bool StepsReadInput(const KernelSpec& spec, size_t i) {
  for (const std::vector<FusedStep>* steps : {&spec.prologue, &spec.epilogue}) {
    for (const FusedStep& st : *steps) {
      for (const FusedOperand& x : st.args) {
        if (x.kind == FusedOperand::Kind::Input && static_cast<size_t>(x.index) == i) return true;
      }
    }
  }
  return false;
}

ProgramContext MakeProgramContext(const PrepareContext& ctx, DType accDtype) {
  ProgramContext pc{ctx.spec, nullptr, ctx.constantInput, accDtype};
  pc.input = [&ctx](size_t i) { return ctx.input(i); };
  return pc;
}

std::vector<const void*> InputData(const std::vector<TensorView>& in) {
  std::vector<const void*> p(in.size());
  for (size_t i = 0; i < in.size(); ++i) p[i] = in[i].data;
  return p;
}

// ---- Elementwise ------------------------------------------------------------------------------

class ElementwiseKernel : public Kernel {
 public:
  explicit ElementwiseKernel(std::unique_ptr<StepProgram> program) : program_(std::move(program)) {}
  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    return program_->Run(InputData(in), nullptr, out[0].data, ctx);
  }

 private:
  std::unique_ptr<StepProgram> program_;
};

// ---- Epilogue steps applied inside the anchor ---------------------------------------------------

/** A Relu, or a Clip with constant scalar bounds, as a gemm activation. */
bool ParseActivation(const PrepareContext& ctx, const FusedStep& st, gemm::Epilogue::Act* act, float* clipMin, float* clipMax) {
  if (st.dtype != DType::F32) return false;
  if (st.op == "Relu" && st.args.size() == 1) {
    *act = gemm::Epilogue::Act::Relu;
    return true;
  }
  if (st.op != "Clip" || st.attrs.count("min") || st.attrs.count("max") || !ctx.constantInput) return false;
  float lo = -INFINITY, hi = INFINITY;
  for (size_t k = 1; k < st.args.size(); ++k) {
    const FusedOperand& x = st.args[k];
    const Slot* s = x.kind == FusedOperand::Kind::Input ? ctx.input(x.index) : nullptr;
    const void* p = s && s->dtype == DType::F32 && ew::Numel(s->shape) == 1 ? ctx.constantInput(x.index) : nullptr;
    if (!p) return false;
    (k == 1 ? lo : hi) = *static_cast<const float*>(p);
  }
  *act = gemm::Epilogue::Act::Clip;
  *clipMin = lo;
  *clipMax = hi;
  return true;
}

/**
 * With the first `absorbed` steps applied inside the anchor, the later steps may only read the
 * last absorbed step (or later ones), never the anchor's result or a value inside the tile epilogue.
 */
bool RestReadsOnlyLast(const std::vector<FusedStep>& epilogue, int absorbed) {
  for (size_t q = absorbed; q < epilogue.size(); ++q) {
    for (const FusedOperand& x : epilogue[q].args) {
      if (absorbed > 0 && x.kind == FusedOperand::Kind::Acc) return false;
      if (x.kind == FusedOperand::Kind::Step && x.index < absorbed - 1) return false;
    }
  }
  return true;
}

/**
 * The leading steps a Conv anchor applies itself: Add(acc, r) with r an f32 input of the output's
 * shape, then Relu or Clip. Returns how many (0: none fit), with r's kernel input in *residual.
 */
int ConvTailSteps(const PrepareContext& ctx, const std::vector<FusedStep>& epilogue, conv::Tail* tail, int* residual) {
  const Slot* out = ctx.output(0);
  if (out->dtype != DType::F32) return 0;
  int j = 0;
  *residual = -1;
  if (!epilogue.empty()) {
    const FusedStep& st = epilogue[0];
    if (st.op == "Add" && st.dtype == DType::F32 && st.args.size() == 2) {
      for (int self = 0; self < 2 && j == 0; ++self) {
        const FusedOperand& a = st.args[self];
        const FusedOperand& b = st.args[1 - self];
        const Slot* r = b.kind == FusedOperand::Kind::Input ? ctx.input(b.index) : nullptr;
        if (a.kind == FusedOperand::Kind::Acc && r && r->dtype == DType::F32 && r->shape == out->shape) {
          tail->residual = true;
          *residual = b.index;
          j = 1;
        }
      }
    }
  }
  if (j < static_cast<int>(epilogue.size())) {
    const FusedStep& st = epilogue[j];
    const FusedOperand& first = st.args.empty() ? FusedOperand{} : st.args[0];
    const bool readsPrev = j == 0 ? first.kind == FusedOperand::Kind::Acc : first.kind == FusedOperand::Kind::Step && first.index == j - 1;
    if (readsPrev && ParseActivation(ctx, st, &tail->act, &tail->clipMin, &tail->clipMax)) ++j;
  }
  if (j == 0 || !RestReadsOnlyLast(epilogue, j)) {
    *tail = conv::Tail{};
    *residual = -1;
    return 0;
  }
  return j;
}

// ---- MatMul with a tile-level epilogue ----------------------------------------------------------

/**
 * C[Mtot x N] = A[Mtot x K] * W[K x N] with W a constant packed at Prepare, plus the leading
 * epilogue steps gemm::Epilogue expresses: Add of a per-column bias, Add of a residual with the
 * output's shape, then Relu or Clip, in that order.
 */
class MatMulTile {
 public:
  /** Returns how many leading epilogue steps it absorbs, or -1 when the anchor does not qualify. */
  int Prepare(const PrepareContext& ctx, const std::vector<FusedStep>& epilogue) {
    const Slot* a = ctx.input(0);
    const Slot* b = ctx.input(1);
    const Slot* o = ctx.output(0);
    if (!a || !b || a->dtype != DType::F32 || b->dtype != DType::F32 || o->dtype != DType::F32) return -1;
    if (b->shape.size() != 2 || a->shape.size() < 2 || !ctx.constantInput) return -1;
    const void* w = ctx.constantInput(1);
    if (!w) return -1;
    K_ = b->shape[0];
    N_ = b->shape[1];
    if (a->shape.back() != K_ || K_ <= 0 || N_ <= 0) return -1;
    M_ = ew::Numel(a->shape) / K_;
    if (ew::Numel(o->shape) != M_ * N_) return -1;
    // Which leading steps fit, in gemm's order: bias, residual, activation.
    int j = 0;
    auto prev = [&](const FusedOperand& x) {
      return j == 0 ? x.kind == FusedOperand::Kind::Acc : x.kind == FusedOperand::Kind::Step && x.index == j - 1;
    };
    auto f32Input = [&](const FusedOperand& x) -> const Slot* {
      const Slot* s = x.kind == FusedOperand::Kind::Input ? ctx.input(x.index) : nullptr;
      return s && s->dtype == DType::F32 ? s : nullptr;
    };
    const int n = static_cast<int>(epilogue.size());
    for (int stage = 0; stage < 3 && j < n; ++stage) {
      const FusedStep& st = epilogue[j];
      if (st.dtype != DType::F32) break;
      if (stage < 2 && st.op == "Add" && st.args.size() == 2) {
        const int self = prev(st.args[0]) ? 0 : prev(st.args[1]) ? 1 : -1;
        const Slot* x = self < 0 ? nullptr : f32Input(st.args[1 - self]);
        if (!x) continue;
        const int64_t numel = ew::Numel(x->shape);
        if (stage == 0 && numel == N_ && !x->shape.empty() && x->shape.back() == N_) {
          bias_ = st.args[1 - self].index;
        } else if (stage == 1 && numel == M_ * N_) {
          residual_ = st.args[1 - self].index;
        } else {
          continue;
        }
        ++j;
      } else if (stage == 2 && st.args.size() >= 1 && prev(st.args[0])) {
        if (!ParseActivation(ctx, st, &act_, &clipMin_, &clipMax_)) break;
        ++j;
      }
    }
    if (!RestReadsOnlyLast(epilogue, j)) return -1;
    packed_.reserve(gemm::LayoutB(K_, N_).size() + 1);
    gemm::PackB(static_cast<const float*>(w), N_, false, K_, N_, 1.0f, packed_.data(), nullptr);
    return j;
  }

  void Run(const std::vector<TensorView>& in, float* c, RunContext& ctx) {
    gemm::Epilogue ep;
    if (bias_ >= 0) ep.bias = in[bias_].as<const float>();
    if (residual_ >= 0) {
      ep.residual = in[residual_].as<const float>();
      ep.ldResidual = N_;
    }
    ep.act = act_;
    ep.clipMin = clipMin_;
    ep.clipMax = clipMax_;
    gemm::SgemmPackedB(false, M_, N_, K_, in[0].as<const float>(), K_, packed_.data(), 0.0f, c, N_, ep, ctx.pool, &scratch_);
  }

 private:
  int64_t M_ = 0, N_ = 0, K_ = 0;
  int bias_ = -1, residual_ = -1;
  gemm::Epilogue::Act act_ = gemm::Epilogue::Act::None;
  float clipMin_ = 0, clipMax_ = 0;
  gemm::AlignedBuffer packed_, scratch_;
};

/** Epilogue steps after the first `absorbed`, renumbered: the last absorbed step becomes acc. */
std::vector<FusedStep> DropLeading(const std::vector<FusedStep>& steps, int absorbed) {
  std::vector<FusedStep> rest(steps.begin() + absorbed, steps.end());
  for (FusedStep& st : rest) {
    for (FusedOperand& x : st.args) {
      if (x.kind != FusedOperand::Kind::Step) continue;
      if (x.index == absorbed - 1) x = FusedOperand{FusedOperand::Kind::Acc, 0};
      else x.index -= absorbed;
    }
  }
  return rest;
}

// ---- Anchored kernels -------------------------------------------------------------------------

class AnchoredKernel : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const PrepareContext& ctx);

  Status Run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, RunContext& ctx) override {
    std::vector<const void*> inputs = InputData(in);
    if (prologue_) MCPC_RETURN_IF_ERROR(prologue_->Run(inputs, nullptr, prologueOut_.data(), ctx));
    void* acc = accInOutput_ ? out[0].data : accBuffer_.data();
    if (tile_) {
      tile_->Run(in, static_cast<float*>(acc), ctx);
    } else {
      for (size_t i = 0; i < anchorIn_.size(); ++i) {
        anchorIn_[i].data = i == 0 && prologue_ ? prologueOut_.data() : (anchorInputs_[i] < 0 ? nullptr : in[anchorInputs_[i]].data);
      }
      anchorOut_[0].data = acc;
      MCPC_RETURN_IF_ERROR(anchor_->Run(anchorIn_, anchorOut_, ctx));
    }
    if (epilogue_) MCPC_RETURN_IF_ERROR(epilogue_->Run(inputs, acc, out[0].data, ctx));
    return Status::Ok();
  }

 private:
  std::unique_ptr<StepProgram> prologue_, epilogue_;
  ByteBuffer prologueOut_, accBuffer_;
  bool accInOutput_ = true;
  std::unique_ptr<MatMulTile> tile_;
  // The anchor's own kernel, its small plan, and its operands' kernel input indices (-1: omitted).
  std::unique_ptr<Plan> anchorPlan_;
  std::unique_ptr<KernelSpec> anchorSpec_;
  std::unique_ptr<Kernel> anchor_;
  std::vector<int> anchorInputs_;
  std::vector<TensorView> anchorIn_, anchorOut_;
};

StatusOr<std::unique_ptr<Kernel>> AnchoredKernel::Create(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  const int arity = AnchorArity(spec.op);
  if (arity == 0) return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s is not an anchor the cpu target fuses steps into", spec.op.c_str());
  const Slot* out = ctx.output(0);
  std::unique_ptr<AnchoredKernel> k(new AnchoredKernel());

  // The anchor's operands: inputs[0, arity) without trailing omitted ones; with a prologue, input 0
  // is the prologue's result.
  int count = std::min<int>(arity, static_cast<int>(spec.inputs.size()));
  while (count > 0 && spec.inputs[count - 1] < 0 && !(count == 1 && !spec.prologue.empty())) --count;
  if (count == 0) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s has no input 0", spec.op.c_str());
  Slot input0;
  if (!spec.prologue.empty()) {
    ProgramContext pc = MakeProgramContext(ctx, DType::F32);
    std::vector<int64_t> shape;
    if (!BroadcastShape(pc, spec.prologue, &shape)) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "the prologue's operands do not broadcast together");
    auto built = StepProgram::Build(pc, spec.prologue, "prologue", shape);
    if (!built.ok()) return built.status();
    k->prologue_ = built.take();
    input0.dtype = k->prologue_->resultDtype();
    input0.shape = shape;
    input0.byteLength = static_cast<size_t>(k->prologue_->numel()) * DTypeSize(input0.dtype);
    input0.name = spec.prologue.back().source;
    MCPC_RETURN_IF_ERROR(k->prologueOut_.Allocate(input0.byteLength));
  } else {
    if (spec.inputs[0] < 0) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s has no input 0", spec.op.c_str());
    input0 = *ctx.input(0);
  }
  const DType accDtype = spec.op == "ArgMax" || spec.op == "ArgMin" ? DType::I64 : input0.dtype;
  k->accInOutput_ = accDtype == out->dtype;
  if (!k->accInOutput_) MCPC_RETURN_IF_ERROR(k->accBuffer_.Allocate(ew::Numel(out->shape) * DTypeSize(accDtype)));

  std::vector<FusedStep> epilogue = spec.epilogue;
  if (spec.op == "MatMul" && spec.prologue.empty() && k->accInOutput_ && !epilogue.empty()) {
    auto tile = std::make_unique<MatMulTile>();
    const int absorbed = tile->Prepare(ctx, epilogue);
    if (absorbed >= 0) {
      k->tile_ = std::move(tile);
      // The tile reads its packed copy of input 1, never the weight itself.
      if (!StepsReadInput(spec, 1)) ctx.releaseConstantInput(1);
      epilogue = DropLeading(epilogue, absorbed);
    }
  }
  // A Conv applies a leading residual add and Relu/Clip itself; the residual becomes its input 3.
  conv::Tail convTail;
  int convResidual = -1;
  const bool isConv = spec.op == "Conv";
  if (isConv && spec.prologue.empty() && k->accInOutput_) {
    const int absorbed = ConvTailSteps(ctx, epilogue, &convTail, &convResidual);
    if (absorbed > 0) epilogue = DropLeading(epilogue, absorbed);
  }
  if (!k->tile_) {
    auto plan = std::make_unique<Plan>();
    auto sub = std::make_unique<KernelSpec>();
    sub->id = spec.id;
    sub->op = spec.op;
    sub->family = spec.family;
    sub->attrs = spec.attrs;
    sub->source = spec.source;
    for (int i = 0; i < count; ++i) {
      k->anchorInputs_.push_back((i == 0 && k->prologue_) || spec.inputs[i] < 0 ? -1 : i);
      sub->inputs.push_back(-1);
      if (i > 0 && spec.inputs[i] < 0) continue;
      Slot s = i == 0 ? input0 : *ctx.input(i);
      s.id = static_cast<int>(plan->slots.size());
      sub->inputs.back() = s.id;
      plan->slots.push_back(std::move(s));
    }
    if (convResidual >= 0) {
      while (sub->inputs.size() < 3) {
        sub->inputs.push_back(-1);
        k->anchorInputs_.push_back(-1);
      }
      Slot s = *ctx.input(convResidual);
      s.id = static_cast<int>(plan->slots.size());
      sub->inputs.push_back(s.id);
      k->anchorInputs_.push_back(convResidual);
      plan->slots.push_back(std::move(s));
    }
    Slot acc = *out;
    acc.id = static_cast<int>(plan->slots.size());
    acc.dtype = accDtype;
    acc.byteLength = static_cast<size_t>(ew::Numel(out->shape)) * DTypeSize(accDtype);
    acc.kind = SlotKind::Arena;
    acc.index = 0;
    sub->outputs.push_back(acc.id);
    plan->slots.push_back(std::move(acc));
    const KernelFactory* factory = KernelRegistry::Get().Find(spec.op);
    if (!factory) return MCPC_ERROR(MCPC_E_UNSUPPORTED, "op %s has no cpu kernel in this build", spec.op.c_str());
    PrepareContext pc{*sub, *plan, nullptr};
    // Anchor operand i is kernel input i (input 0 is computed when there is a prologue).
    const bool hasPrologue = static_cast<bool>(k->prologue_);
    std::function<const void*(size_t)> outer = ctx.constantInput;
    pc.constantInput = [outer, hasPrologue](size_t i) -> const void* {
      if (!outer || (i == 0 && hasPrologue)) return nullptr;
      return outer(i);
    };
    std::function<void(size_t)> outerRelease = ctx.onConstantInputReleased;
    const KernelSpec* outerSpec = &spec;
    pc.onConstantInputReleased = [outerRelease, outerSpec, hasPrologue](size_t i) {
      if (!outerRelease || (i == 0 && hasPrologue) || StepsReadInput(*outerSpec, i)) return;
      outerRelease(i);
    };
    StatusOr<std::unique_ptr<Kernel>> anchor = isConv ? conv::CreateKernel(pc, convTail) : (*factory)(pc);
    if (!anchor.ok()) return anchor.status();
    if (!anchor.value()) return MCPC_ERROR(MCPC_E_KERNEL, "the %s kernel factory returned no kernel", spec.op.c_str());
    k->anchor_ = anchor.take();
    for (int id : sub->inputs) {
      TensorView v;
      if (id >= 0) {
        const Slot& s = plan->slots[id];
        v.dtype = s.dtype;
        v.shape = &s.shape;
        v.numel = static_cast<int64_t>(s.byteLength / DTypeSize(s.dtype));
      }
      k->anchorIn_.push_back(v);
    }
    const Slot& a = plan->slots[sub->outputs[0]];
    TensorView v;
    v.dtype = a.dtype;
    v.shape = &a.shape;
    v.numel = ew::Numel(a.shape);
    k->anchorOut_.push_back(v);
    k->anchorPlan_ = std::move(plan);
    k->anchorSpec_ = std::move(sub);
  }
  if (!epilogue.empty()) {
    ProgramContext pc = MakeProgramContext(ctx, k->tile_ ? DType::F32 : accDtype);
    auto built = StepProgram::Build(pc, epilogue, "epilogue", out->shape);
    if (!built.ok()) return built.status();
    k->epilogue_ = built.take();
    if (k->epilogue_->resultDtype() != out->dtype) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "the last epilogue step gives %s, the output is %s", DTypeName(k->epilogue_->resultDtype()),
                        DTypeName(out->dtype));
    }
  } else if (!k->accInOutput_) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s gives %s, the output is %s, and no epilogue converts it", spec.op.c_str(), DTypeName(accDtype),
                      DTypeName(out->dtype));
  }
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace

int AnchorArity(const std::string& op) {
  static const std::pair<const char*, int> kAnchors[] = {
      {"Conv", 3}, {"ConvTranspose", 3}, {"Gemm", 3}, {"MatMul", 2}, {"BatchNormalization", 5}, {"LayerNormalization", 3},
      {"GroupNormalization", 3}, {"InstanceNormalization", 3}, {"CumSum", 2}, {"Softmax", 1}, {"LogSoftmax", 1},
      {"AveragePool", 1}, {"MaxPool", 1}, {"GlobalAveragePool", 1}, {"GlobalMaxPool", 1}, {"ArgMax", 1}, {"ArgMin", 1},
      {"ReduceL1", 2}, {"ReduceL2", 2}, {"ReduceLogSum", 2}, {"ReduceLogSumExp", 2}, {"ReduceMax", 2}, {"ReduceMean", 2},
      {"ReduceMin", 2}, {"ReduceProd", 2}, {"ReduceSum", 2}, {"ReduceSumSquare", 2},
  };
  for (const auto& [name, n] : kAnchors) {
    if (op == name) return n;
  }
  return 0;
}

StatusOr<std::unique_ptr<Kernel>> CreateFusedKernel(const PrepareContext& ctx) {
  const KernelSpec& spec = ctx.spec;
  if (spec.outputs.size() != 1) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "a fused kernel has one output, this one %zu", spec.outputs.size());
  if (spec.op == "Elementwise") {
    const Slot* out = ctx.output(0);
    auto built = StepProgram::Build(MakeProgramContext(ctx, DType::F32), spec.epilogue, "epilogue", out->shape);
    if (!built.ok()) return built.status();
    std::unique_ptr<StepProgram> program = built.take();
    if (program->resultDtype() != out->dtype) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "the last step gives %s, the output is %s", DTypeName(program->resultDtype()), DTypeName(out->dtype));
    }
    return std::unique_ptr<Kernel>(new ElementwiseKernel(std::move(program)));
  }
  return AnchoredKernel::Create(ctx);
}

}  // namespace fused
}  // namespace mcpc
