// StepProgram: operands are bound once at Prepare to one of four accesses per chunk (a pointer
// into a kernel input that has the index space's shape, a scalar, a broadcast input gathered into
// a chunk buffer, or an earlier step's chunk buffer). Step buffers are reused as soon as their
// last reader has run. Generic steps get two instances of their op's kernel, prepared on a tiny
// plan whose operands are 1-D chunks (or scalars): one for full chunks, one for the tail.
#include "fused_program.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "elementwise.h"

namespace mcpc {
namespace fused {

namespace {

enum class Access : uint8_t { Direct, Scalar, Gather, Step, Acc };

struct Arg {
  Access access = Access::Direct;
  int index = 0;  // kernel input, gather or step index, by access
  DType dtype = DType::F32;
};

enum class Fast : uint8_t { None, Binary, Unary };

constexpr size_t kBufferBytes = kChunk * 8;

/** f32 ops with a vector loop in elementwise_simd.h, and the same one the unfused kernel uses. */
bool FastUnary(const FusedStep& st, ew::simd::UnOp* op) {
  using ew::simd::UnOp;
  static const std::pair<const char*, UnOp> kOps[] = {
      {"Relu", UnOp::Relu}, {"Abs", UnOp::Abs}, {"Neg", UnOp::Neg}, {"Exp", UnOp::Exp}, {"Sqrt", UnOp::Sqrt},
      {"Reciprocal", UnOp::Reciprocal}, {"Erf", UnOp::Erf}, {"Tanh", UnOp::Tanh}, {"Sigmoid", UnOp::Sigmoid},
      {"HardSwish", UnOp::HardSwish},
  };
  for (const auto& [name, u] : kOps) {
    if (st.op == name) {
      *op = u;
      return true;
    }
  }
  if (st.op == "Gelu") {
    auto it = st.attrs.find("approximate");
    std::string approx = it == st.attrs.end() ? "none" : it->second.s;
    if (approx == "none") *op = UnOp::GeluErf;
    else if (approx == "tanh") *op = UnOp::GeluTanh;
    else return false;
    return true;
  }
  return false;
}

bool FastBinary(const FusedStep& st, ew::simd::BinOp* op) {
  using ew::simd::BinOp;
  if (st.op == "Add") *op = BinOp::Add;
  else if (st.op == "Sub") *op = BinOp::Sub;
  else if (st.op == "Mul") *op = BinOp::Mul;
  else if (st.op == "Div") *op = BinOp::Div;
  else return false;
  return true;
}

/** Per-thread chunk buffers, 64-byte aligned, grown on demand. */
struct Scratch {
  uint8_t* data = nullptr;
  size_t bytes = 0;
  ~Scratch() { std::free(data); }
  uint8_t* Get(size_t n) {
    if (n > bytes) {
      std::free(data);
      data = static_cast<uint8_t*>(std::aligned_alloc(64, (n + 63) / 64 * 64));
      if (!data) throw std::bad_alloc();
      bytes = n;
    }
    return data;
  }
};

}  // namespace

/** One operand broadcast into a chunk buffer. */
struct StepProgram::Gather {
  int input = 0;
  size_t esize = 4;
  ew::Broadcast bc;
};

struct StepProgram::Step {
  FusedStep def;
  std::vector<Arg> args;
  DType dtype = DType::F32;
  int buffer = -1;  // scratch buffer of the result; -1 for the last step (writes `out`)
  Fast fast = Fast::None;
  ew::simd::BinOp bop = ew::simd::BinOp::Add;
  ew::simd::UnOp uop = ew::simd::UnOp::Relu;
  // Generic steps: the op's kernel for a full chunk [0] and for the tail [1], with their plans.
  std::unique_ptr<Plan> plans[2];
  std::unique_ptr<KernelSpec> specs[2];
  std::unique_ptr<Kernel> kernels[2];
  std::vector<TensorView> ins[2], outs[2];
};

StepProgram::~StepProgram() = default;

DType StepProgram::resultDtype() const { return steps_.back()->dtype; }

bool BroadcastShape(const ProgramContext& ctx, const std::vector<FusedStep>& steps, std::vector<int64_t>* shape) {
  shape->clear();
  for (const FusedStep& st : steps) {
    for (const FusedOperand& a : st.args) {
      if (a.kind != FusedOperand::Kind::Input) continue;
      const Slot* s = ctx.input(a.index);
      if (!s) return false;
      const std::vector<int64_t>& in = s->shape;
      if (in.size() > shape->size()) shape->insert(shape->begin(), in.size() - shape->size(), 1);
      const size_t off = shape->size() - in.size();
      for (size_t d = 0; d < in.size(); ++d) {
        int64_t& o = (*shape)[off + d];
        if (o == 1) o = in[d];
        else if (in[d] != 1 && in[d] != o) return false;
      }
    }
  }
  return true;
}

StatusOr<std::unique_ptr<StepProgram>> StepProgram::Build(const ProgramContext& ctx, const std::vector<FusedStep>& steps, const char* list,
                                                          const std::vector<int64_t>& shape) {
  const KernelSpec& spec = ctx.spec;
  auto fail = [&](size_t j, const std::string& why) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "%s[%zu] (%s at node '%s'): %s", list, j, j < steps.size() ? steps[j].op.c_str() : "?",
                      j < steps.size() ? steps[j].source.c_str() : "?", why.c_str());
  };
  if (steps.empty()) return fail(0, "no steps");
  std::unique_ptr<StepProgram> p(new StepProgram());
  p->shape_ = shape;
  p->numel_ = ew::Numel(shape);
  const int64_t full = p->numel_ >= kChunk ? kChunk : 0;
  const int64_t tail = p->numel_ % kChunk;

  // Last reader of every step, for buffer reuse.
  const size_t n = steps.size();
  std::vector<int> lastUse(n, -1);
  for (size_t j = 0; j < n; ++j) {
    for (const FusedOperand& a : steps[j].args) {
      if (a.kind == FusedOperand::Kind::Step) lastUse[a.index] = static_cast<int>(j);
    }
  }
  std::vector<int> freeBuffers;
  int buffers = 0;
  std::vector<int> gatherOf(spec.inputs.size(), -1);

  for (size_t j = 0; j < n; ++j) {
    const FusedStep& def = steps[j];
    auto st = std::make_unique<Step>();
    st->def = def;
    st->dtype = def.dtype;
    for (size_t k = 0; k < def.args.size(); ++k) {
      const FusedOperand& a = def.args[k];
      Arg arg;
      arg.index = a.index;
      switch (a.kind) {
        case FusedOperand::Kind::Acc:
          arg.access = Access::Acc;
          arg.dtype = ctx.accDtype;
          break;
        case FusedOperand::Kind::Step:
          if (a.index < 0 || static_cast<size_t>(a.index) >= j) return fail(j, "reads a step that does not come before it");
          arg.access = Access::Step;
          arg.dtype = steps[a.index].dtype;
          break;
        case FusedOperand::Kind::Input: {
          const Slot* s = ctx.input(a.index);
          if (!s) return fail(j, "reads an omitted kernel input");
          arg.dtype = s->dtype;
          const int64_t numel = ew::Numel(s->shape);
          if (numel == 1) {
            arg.access = Access::Scalar;
          } else if (numel == p->numel_) {
            arg.access = Access::Direct;
          } else {
            if (gatherOf[a.index] < 0) {
              auto g = std::make_unique<Gather>();
              g->input = a.index;
              g->esize = DTypeSize(s->dtype);
              if (!g->bc.Build(shape, {&s->shape})) return fail(j, "operand " + std::to_string(k) + " does not broadcast to the step's shape");
              gatherOf[a.index] = static_cast<int>(p->gathers_.size());
              p->gathers_.push_back(std::move(g));
            }
            arg.access = Access::Gather;
            arg.index = gatherOf[a.index];
          }
          break;
        }
      }
      st->args.push_back(arg);
    }
    // Result buffer: the last step writes the output; others take a free buffer, and the buffers
    // of steps read for the last time here are freed after (a result never aliases its operands).
    if (j + 1 < n) {
      if (freeBuffers.empty()) freeBuffers.push_back(buffers++);
      st->buffer = freeBuffers.back();
      freeBuffers.pop_back();
    }
    for (size_t q = 0; q < j; ++q) {
      if (lastUse[q] == static_cast<int>(j) && p->steps_[q]->buffer >= 0) freeBuffers.push_back(p->steps_[q]->buffer);
    }
    if (lastUse[j] < 0 && st->buffer >= 0) freeBuffers.push_back(st->buffer);

    // f32 fast path: the vector loops the unfused kernels use.
    const bool allF32 = st->dtype == DType::F32 && std::all_of(st->args.begin(), st->args.end(), [](const Arg& a) { return a.dtype == DType::F32; });
    if (allF32 && st->args.size() == 2 && FastBinary(def, &st->bop) &&
        !(st->args[0].access == Access::Scalar && st->args[1].access == Access::Scalar)) {
      st->fast = Fast::Binary;
    } else if (allF32 && st->args.size() == 1 && st->args[0].access != Access::Scalar && FastUnary(def, &st->uop)) {
      st->fast = Fast::Unary;
    } else {
      const KernelFactory* factory = KernelRegistry::Get().Find(def.op);
      if (!factory) return MCPC_ERROR(MCPC_E_UNSUPPORTED, "%s[%zu]: op %s at node '%s' has no cpu kernel in this build", list, j, def.op.c_str(), def.source.c_str());
      for (int v = 0; v < 2; ++v) {
        const int64_t len = v == 0 ? full : tail;
        if (len == 0) continue;
        auto plan = std::make_unique<Plan>();
        auto sub = std::make_unique<KernelSpec>();
        sub->id = spec.id;
        sub->op = def.op;
        sub->family = "elementwise";
        sub->attrs = def.attrs;
        sub->source = def.source;
        const size_t nargs = st->args.size();
        for (size_t k = 0; k <= nargs; ++k) {
          Slot s;
          s.id = static_cast<int>(k);
          s.dtype = k < nargs ? st->args[k].dtype : st->dtype;
          const bool scalar = k < nargs && st->args[k].access == Access::Scalar;
          if (!scalar) s.shape = {len};
          s.byteLength = static_cast<size_t>(scalar ? 1 : len) * DTypeSize(s.dtype);
          s.name = k < nargs ? def.source + ".arg" + std::to_string(k) : def.source;
          plan->slots.push_back(std::move(s));
          if (k < nargs) sub->inputs.push_back(static_cast<int>(k));
          else sub->outputs.push_back(static_cast<int>(k));
        }
        PrepareContext pc{*sub, *plan, nullptr};
        // Scalar weights (Clip bounds, Pow exponents) stay visible as constants to the op's kernel.
        std::vector<Arg> args = st->args;
        std::function<const void*(size_t)> outer = ctx.constantInput;
        pc.constantInput = [args, outer](size_t i) -> const void* {
          if (i >= args.size() || args[i].access != Access::Scalar || !outer) return nullptr;
          return outer(static_cast<size_t>(args[i].index));
        };
        StatusOr<std::unique_ptr<Kernel>> kernel = (*factory)(pc);
        if (!kernel.ok()) return fail(j, kernel.status().message());
        if (!kernel.value()) return fail(j, "the kernel factory returned no kernel");
        st->kernels[v] = kernel.take();
        for (const Slot& s : plan->slots) {
          TensorView view;
          view.dtype = s.dtype;
          view.shape = &s.shape;
          view.numel = static_cast<int64_t>(s.byteLength / DTypeSize(s.dtype));
          (static_cast<size_t>(s.id) < nargs ? st->ins[v] : st->outs[v]).push_back(view);
        }
        st->plans[v] = std::move(plan);
        st->specs[v] = std::move(sub);
      }
    }
    p->steps_.push_back(std::move(st));
  }
  p->nbuffers_ = buffers + static_cast<int>(p->gathers_.size());
  // About 16k element-steps per task: enough work to hide the pool's dispatch.
  p->grain_ = std::max<int64_t>(1, 16 / static_cast<int64_t>(n));
  return p;
}

Status StepProgram::RunChunks(int64_t c0, int64_t c1, const std::vector<const void*>& inputs, const void* acc, void* out) const {
  thread_local Scratch scratch;
  uint8_t* buf = scratch.Get(static_cast<size_t>(std::max(nbuffers_, 1)) * kBufferBytes);
  const int nsteps = static_cast<int>(steps_.size());
  const int stepBuffers = nbuffers_ - static_cast<int>(gathers_.size());
  // Views of generic steps are copied once per task: tasks on other threads patch their own.
  std::vector<std::vector<TensorView>> ins[2], outs[2];
  for (int v = 0; v < 2; ++v) {
    ins[v].resize(nsteps);
    outs[v].resize(nsteps);
    for (int j = 0; j < nsteps; ++j) {
      ins[v][j] = steps_[j]->ins[v];
      outs[v][j] = steps_[j]->outs[v];
    }
  }
  RunContext inline_ctx;  // no pool: the op kernels run on this thread
  for (int64_t c = c0; c < c1; ++c) {
    const int64_t begin = c * kChunk;
    const int64_t len = std::min(kChunk, numel_ - begin);
    const int variant = len == kChunk ? 0 : 1;
    for (size_t g = 0; g < gathers_.size(); ++g) {
      const Gather& ga = *gathers_[g];
      uint8_t* dst = buf + (stepBuffers + g) * kBufferBytes;
      const uint8_t* src = static_cast<const uint8_t*>(inputs[ga.input]);
      const int64_t stride = ga.bc.innerStride(0);
      ew::VisitSize(ga.esize, [&](auto tag) {
        using T = typename decltype(tag)::type;
        T* d = reinterpret_cast<T*>(dst);
        const T* s = reinterpret_cast<const T*>(src);
        ga.bc.ForEach(begin, begin + len, [&](int64_t o, const int64_t* off, int64_t run) {
          T* dd = d + (o - begin);
          const T* ss = s + off[0];
          if (stride) std::memcpy(dd, ss, run * sizeof(T));
          else std::fill(dd, dd + run, ss[0]);
        });
      });
    }
    for (int j = 0; j < nsteps; ++j) {
      const Step& st = *steps_[j];
      auto argPtr = [&](const Arg& a) -> const void* {
        switch (a.access) {
          case Access::Direct: return static_cast<const uint8_t*>(inputs[a.index]) + begin * DTypeSize(a.dtype);
          case Access::Scalar: return inputs[a.index];
          case Access::Gather: return buf + (stepBuffers + a.index) * kBufferBytes;
          case Access::Step: return buf + steps_[a.index]->buffer * kBufferBytes;
          case Access::Acc: return static_cast<const uint8_t*>(acc) + begin * DTypeSize(a.dtype);
        }
        return nullptr;
      };
      void* result = st.buffer < 0 ? static_cast<uint8_t*>(out) + begin * DTypeSize(st.dtype) : static_cast<void*>(buf + st.buffer * kBufferBytes);
      if (st.fast == Fast::Binary) {
        const int mode = st.args[0].access == Access::Scalar ? 1 : st.args[1].access == Access::Scalar ? 2 : 0;
        ew::simd::Best().binary(st.bop, static_cast<const float*>(argPtr(st.args[0])), static_cast<const float*>(argPtr(st.args[1])),
                                static_cast<float*>(result), len, mode);
      } else if (st.fast == Fast::Unary) {
        ew::simd::Best().unary(st.uop, static_cast<const float*>(argPtr(st.args[0])), static_cast<float*>(result), len, 0.0f, 0.0f);
      } else {
        std::vector<TensorView>& in = ins[variant][j];
        std::vector<TensorView>& o = outs[variant][j];
        for (size_t k = 0; k < in.size(); ++k) in[k].data = const_cast<void*>(argPtr(st.args[k]));
        o[0].data = result;
        Status s = st.kernels[variant]->Run(in, o, inline_ctx);
        if (!s.ok()) return s;
      }
    }
  }
  return Status::Ok();
}

Status StepProgram::Run(const std::vector<const void*>& inputs, const void* acc, void* out, RunContext& ctx) const {
  const int64_t chunks = (numel_ + kChunk - 1) / kChunk;
  if (chunks == 0) return Status::Ok();
  if (!ctx.pool || ctx.pool->threads() <= 1 || chunks <= grain_) return RunChunks(0, chunks, inputs, acc, out);
  std::mutex mu;
  Status first;
  std::atomic<bool> failed{false};
  ctx.pool->ParallelFor(chunks, grain_, [&](int64_t c0, int64_t c1) {
    if (failed.load(std::memory_order_relaxed)) return;
    Status s;
    try {
      s = RunChunks(c0, c1, inputs, acc, out);
    } catch (const std::bad_alloc&) {
      s = MCPC_ERROR(MCPC_E_OUT_OF_MEMORY, "out of memory in a fused step");
    }
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      if (!failed.exchange(true)) first = s;
    }
  });
  return first;
}

}  // namespace fused
}  // namespace mcpc
