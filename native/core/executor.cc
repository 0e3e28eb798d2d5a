// Session: load (validate, create kernels, allocate the arena) and run (bind buffers, run kernels
// in order, copy outputs that are not written in place). Kernel failures keep their code and gain
// the kernel's index, op and source node, which is what a user can act on.
#include "executor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "kernels/fused.h"

namespace mcpc {

namespace {

constexpr size_t kArenaAlignment = 64;

size_t RoundUp(size_t x, size_t a) { return (x + a - 1) / a * a; }

/** Prefixes a kernel's error with where it happened, keeping its code. */
Status InKernel(const Status& s, size_t k, const KernelSpec& spec) {
  return Status::Error(s.code(),
                       FormatMessage("kernel %zu (%s at node '%s'): %s", k, spec.op.c_str(), spec.source.c_str(), s.message().c_str()),
                       __FILE__, __LINE__);
}

}  // namespace

StatusOr<WeightsSection> MapWeightsFile(const std::string& path, uint64_t offset, uint64_t length, std::vector<WeightRef> entries) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return MCPC_ERROR("MCPC1001", "cannot read %s: %s", path.c_str(), std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return MCPC_ERROR("MCPC1001", "cannot read %s: %s", path.c_str(), std::strerror(err));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size || length > size - offset) {
    ::close(fd);
    return MCPC_ERROR("MCPC4004", "%s is truncated: the weights section ends at byte %llu, the file has %llu", path.c_str(),
                      static_cast<unsigned long long>(offset + length), static_cast<unsigned long long>(size));
  }
  WeightsSection w;
  w.entries = std::move(entries);
  w.length = static_cast<size_t>(length);
  if (size > 0) {
    void* base = mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (base == MAP_FAILED) return MCPC_ERROR("MCPC1001", "cannot map %s: %s", path.c_str(), std::strerror(err));
    const size_t mapLength = static_cast<size_t>(size);
    w.mapping = std::shared_ptr<void>(base, [mapLength](void* p) { munmap(p, mapLength); });
    w.mapBase = static_cast<uint8_t*>(base);
    w.mapLength = mapLength;
    w.data = w.mapBase + offset;
  } else {
    ::close(fd);
  }
  return w;
}

Status MapWeightsIfFile(const std::string& path, uint64_t offset, uint64_t length, WeightsSection* weights) {
  if (path.empty()) return Status::Ok();
  StatusOr<WeightsSection> mapped = MapWeightsFile(path, offset, length, std::move(weights->entries));
  if (!mapped.ok()) return mapped.status();
  *weights = mapped.take();
  return Status::Ok();
}

StatusOr<std::unique_ptr<Session>> Session::Create(Plan plan, WeightsSection weights, SessionOptions options) {
  MCPC_RETURN_IF_ERROR(ValidatePlan(plan, weights));
  std::unique_ptr<Session> s(new Session());
  s->plan_ = std::move(plan);
  s->weights_ = std::move(weights);
  try {
    // Weights are used in place; only a base pointer that misaligns some tensor for its element
    // type (a Uint8Array view at an odd offset) costs one aligned copy of the section.
    bool misaligned = false;
    for (const Slot& slot : s->plan_.slots) {
      if (slot.kind != SlotKind::Weight) continue;
      auto addr = reinterpret_cast<uintptr_t>(s->weights_.data) + s->weights_.entries[slot.index].offset;
      if (addr % DTypeSize(slot.dtype) != 0) misaligned = true;
    }
    if (misaligned && s->weights_.length > 0) {
      s->ownedWeights_ = static_cast<uint8_t*>(std::aligned_alloc(kArenaAlignment, RoundUp(s->weights_.length, kArenaAlignment)));
      if (!s->ownedWeights_) throw std::bad_alloc();
      std::memcpy(s->ownedWeights_, s->weights_.data, s->weights_.length);
      s->weights_.data = s->ownedWeights_;
    }
    int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
    s->pool_ = std::make_unique<ThreadPool>(threads > 0 ? threads : 1);
  } catch (const std::bad_alloc&) {
    return MCPC_ERROR(MCPC_E_OUT_OF_MEMORY, "cannot allocate a copy of the %zu-byte weights section", s->weights_.length);
  } catch (const std::system_error& e) {
    return MCPC_ERROR(MCPC_E_OUT_OF_MEMORY, "cannot start the session's threads: %s", e.what());
  }
  // The arena is mapped, not malloc'ed: page-aligned (so 64-byte aligned), and returned to the OS
  // at once when the session goes, where malloc would keep big freed blocks in its heap and a
  // process that loads many sessions would grow.
  s->arenaBytes_ = RoundUp(s->plan_.arenaSize > 0 ? s->plan_.arenaSize : 1, kArenaAlignment);
  void* arena = mmap(nullptr, s->arenaBytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (arena == MAP_FAILED) return MCPC_ERROR(MCPC_E_OUT_OF_MEMORY, "cannot allocate the %zu-byte activation arena", s->arenaBytes_);
  s->arena_ = static_cast<uint8_t*>(arena);
  MCPC_RETURN_IF_ERROR(s->Prepare());
  s->profile_.Configure(s->kernels_.size());
  return s;
}

Session::~Session() {
  profile_.Report(plan_, "cpu");
  kernels_.clear();  // kernels may hold pointers into the arena or the weights
  if (arena_) munmap(arena_, arenaBytes_);
  std::free(ownedWeights_);
}

StatusOr<std::unique_ptr<Kernel>> Session::CreateKernel(size_t k, const Plan& plan, std::vector<bool>* released) {
  const KernelSpec& spec = plan.kernels[k];
  // Fused kernels are built around the registry's kernels (kernels/fused.cc).
  const KernelFactory* factory = spec.fused() ? nullptr : KernelRegistry::Get().Find(spec.op);
  if (!factory && !spec.fused()) {
    return MCPC_ERROR(MCPC_E_UNSUPPORTED, "op %s at node '%s' (kernel %zu) has no cpu kernel in this build", spec.op.c_str(), spec.source.c_str(), k);
  }
  PrepareContext ctx{spec, plan, nullptr};
  ctx.onConstantInputReleased = [released](size_t i) {
    if (released && i < released->size()) (*released)[i] = true;
  };
  ctx.constantInput = [this, &spec](size_t i) -> const void* {
    int id = i < spec.inputs.size() ? spec.inputs[i] : -1;
    if (id < 0 || plan_.slots[id].kind != SlotKind::Weight) return nullptr;
    return weights_.data + weights_.entries[plan_.slots[id].index].offset;
  };
  StatusOr<std::unique_ptr<Kernel>> kernel = Status::Ok();
  try {
    kernel = factory ? (*factory)(ctx) : fused::CreateFusedKernel(ctx);
  } catch (const std::bad_alloc&) {
    return InKernel(MCPC_ERROR(MCPC_E_OUT_OF_MEMORY, "out of memory while preparing"), k, spec);
  } catch (const std::exception& e) {
    return InKernel(MCPC_ERROR(MCPC_E_KERNEL, "prepare threw: %s", e.what()), k, spec);
  }
  if (!kernel.ok()) return InKernel(kernel.status(), k, spec);
  if (!kernel.value()) return InKernel(MCPC_ERROR(MCPC_E_KERNEL, "the kernel factory returned no kernel"), k, spec);
  return kernel;
}

Status Session::Prepare() {
  const KernelRegistry& registry = KernelRegistry::Get();
  for (const Slot& slot : plan_.slots) dynamic_ = dynamic_ || slot.dynamic != DynamicDims::Static;
  if (dynamic_) {
    live_ = plan_;
    heap_.resize(plan_.slots.size());
    preparedDims_.resize(plan_.kernels.size());
  }
  kernels_.reserve(plan_.kernels.size());
  // Which weights are read in place at run time: by a kernel that did not declare it packed a
  // copy, or as a model output (copied out by Run).
  std::vector<bool> readAtRun(weights_.entries.size(), false);
  auto pin = [&](int id) {
    if (id >= 0 && plan_.slots[id].kind == SlotKind::Weight) readAtRun[plan_.slots[id].index] = true;
  };
  for (int id : plan_.outputSlots) pin(id);
  // Kernel inputs still to be prepared per weight: a weight whose last reader packed it can drop
  // its pages at once, which keeps the peak (mapped pages plus packed copies) low.
  std::vector<int> pending(weights_.entries.size(), 0);
  for (const KernelSpec& spec : plan_.kernels) {
    for (int id : spec.outputs) pin(id);
    for (int id : spec.inputs) {
      if (id >= 0 && plan_.slots[id].kind == SlotKind::Weight) ++pending[plan_.slots[id].index];
    }
  }
  const bool mapped = weights_.mapping && !ownedWeights_;
  const uintptr_t pageSize = static_cast<uintptr_t>(std::max(1L, sysconf(_SC_PAGESIZE)));
  for (size_t k = 0; k < plan_.kernels.size(); ++k) {
    const KernelSpec& spec = plan_.kernels[k];
    if (!spec.fused() && !registry.Find(spec.op)) {
      return MCPC_ERROR(MCPC_E_UNSUPPORTED, "op %s at node '%s' (kernel %zu) has no cpu kernel in this build", spec.op.c_str(), spec.source.c_str(), k);
    }
    // Low-precision storage types only reach the kernels that convert them; the others size
    // elements by DTypeSize, which sub-byte (packed) types do not have.
    if (spec.op != "Cast" && spec.op != "CastLike" && spec.op != "QuantizeLinear" && spec.op != "DequantizeLinear") {
      for (const std::vector<int>* ids : {&spec.inputs, &spec.outputs}) {
        for (int id : *ids) {
          if (id >= 0 && IsLowPrecision(plan_.slots[id].dtype)) {
            return InKernel(MCPC_ERROR(MCPC_E_UNSUPPORTED, "dtype %s is only supported by Cast, CastLike, QuantizeLinear and DequantizeLinear",
                                       DTypeName(plan_.slots[id].dtype)),
                            k, spec);
          }
        }
      }
    }
    std::vector<bool> released(spec.inputs.size(), false);
    if (spec.shapes == ShapeRule::Broadcast) {
      // Prepared at run time, once its inputs' dims are known; it reads its weights in place.
      kernels_.push_back(nullptr);
    } else {
      StatusOr<std::unique_ptr<Kernel>> kernel = CreateKernel(k, plan_, &released);
      if (!kernel.ok()) return kernel.status();
      kernels_.push_back(kernel.take());
    }
    for (size_t j = 0; j < spec.inputs.size(); ++j) {
      const int id = spec.inputs[j];
      if (id < 0 || plan_.slots[id].kind != SlotKind::Weight) continue;
      const size_t w = plan_.slots[id].index;
      if (!released[j]) readAtRun[w] = true;
      if (--pending[w] == 0 && !readAtRun[w] && mapped) {
        // The pages wholly inside this weight; pages it shares with neighbours wait for the end.
        const uintptr_t b = reinterpret_cast<uintptr_t>(weights_.data) + weights_.entries[w].offset;
        const uintptr_t from = (b + pageSize - 1) / pageSize * pageSize;
        const uintptr_t to = (b + weights_.entries[w].byteLength) / pageSize * pageSize;
        if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
      }
    }

    auto view = [this](int id) {
      TensorView v;
      if (id >= 0) {
        const Slot& slot = plan_.slots[id].dynamic != DynamicDims::Static ? live_.slots[id] : plan_.slots[id];
        v.dtype = slot.dtype;
        v.shape = &slot.shape;
        v.numel = 1;  // from the shape: sub-byte types pack several elements to a byte
        for (int64_t d : slot.shape) v.numel *= d;
      }
      return v;
    };
    std::vector<TensorView> ins, outs;
    for (int id : spec.inputs) ins.push_back(view(id));
    for (int id : spec.outputs) outs.push_back(view(id));
    inputViews_.push_back(std::move(ins));
    outputViews_.push_back(std::move(outs));
  }
  if (weights_.mapping) ReleasePackedWeights(readAtRun);
  return Status::Ok();
}

void Session::ReleasePackedWeights(const std::vector<bool>& readAtRun) {
  const long pageSize = sysconf(_SC_PAGESIZE);
  if (pageSize <= 0 || !weights_.mapBase || weights_.length == 0) return;
  const uintptr_t page = static_cast<uintptr_t>(pageSize);
  const uintptr_t mapStart = reinterpret_cast<uintptr_t>(weights_.mapBase);
  // With an owned (aligned) copy nothing reads the mapping any more.
  uintptr_t secStart, secEnd;
  std::vector<std::pair<uintptr_t, uintptr_t>> pinned;
  if (ownedWeights_) {
    secStart = mapStart;
    secEnd = mapStart + weights_.mapLength;
  } else {
    secStart = reinterpret_cast<uintptr_t>(weights_.data);
    secEnd = secStart + weights_.length;
    for (size_t w = 0; w < weights_.entries.size(); ++w) {
      if (!readAtRun[w] || weights_.entries[w].byteLength == 0) continue;
      const uintptr_t b = secStart + weights_.entries[w].offset;
      pinned.push_back({b, b + weights_.entries[w].byteLength});
    }
    std::sort(pinned.begin(), pinned.end());
  }
  pinned.push_back({secEnd, secEnd});
  uintptr_t cursor = secStart;
  for (const auto& [b, e] : pinned) {
    const uintptr_t from = (cursor + page - 1) / page * page;
    const uintptr_t to = std::min(b, secEnd) / page * page;
    if (to > from && madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED) == 0) releasedWeightBytes_ += to - from;
    cursor = std::max(cursor, e);
  }
}

void* Session::SlotData(const Slot& slot, const std::vector<IoBuffer>& inputs, const std::vector<IoBuffer>& outputs) const {
  switch (slot.kind) {
    case SlotKind::Input: return inputs[slot.index].data;
    case SlotKind::Output: return outputs[slot.index].data;
    // Kernels get weights through a non-const pointer (TensorView is one type) but never write them.
    case SlotKind::Weight: return const_cast<uint8_t*>(weights_.data) + weights_.entries[slot.index].offset;
    case SlotKind::Arena: return arena_ + slot.index;
    case SlotKind::Heap: return heap_.empty() ? nullptr : heap_[slot.id].data.get();
  }
  return nullptr;
}

Status Session::ResolveSlot(int id, const std::vector<int64_t>& dims) {
  const Slot& bound = plan_.slots[id];
  Slot& live = live_.slots[id];
  if (dims.size() != bound.shape.size()) {
    return MCPC_ERROR(MCPC_E_KERNEL, "%s has rank %zu at run time, the plan says %zu", bound.name.c_str(), dims.size(), bound.shape.size());
  }
  uint64_t numel = 1;
  for (int64_t d : dims) {
    if (d < 0 || (d != 0 && numel > (uint64_t{1} << 40) / static_cast<uint64_t>(d))) {
      return MCPC_ERROR(MCPC_E_KERNEL, "%s would have too many elements at run time", bound.name.c_str());
    }
    numel *= static_cast<uint64_t>(d);
  }
  const uint64_t bytes = ByteLength(bound.dtype, numel);
  if (bound.kind == SlotKind::Heap) {
    HeapBuffer& h = heap_[id];
    if (!h.data || h.capacity < bytes) {
      const size_t cap = RoundUp(std::max<size_t>(static_cast<size_t>(bytes), 1), kArenaAlignment);
      void* p = std::aligned_alloc(kArenaAlignment, cap);
      if (!p) return MCPC_ERROR(MCPC_E_OUT_OF_MEMORY, "cannot allocate %zu bytes for %s", cap, bound.name.c_str());
      h.data = std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
      h.capacity = cap;
    }
  } else if (bytes > bound.byteLength) {
    return MCPC_ERROR(MCPC_E_KERNEL, "%s needs %llu bytes at run time, more than its bound of %zu", bound.name.c_str(),
                      static_cast<unsigned long long>(bytes), bound.byteLength);
  }
  live.shape = dims;
  live.byteLength = static_cast<size_t>(bytes);
  return Status::Ok();
}

/** Hands a Computed kernel the buffers of its dynamic outputs once it knows their dims. */
class Session::Resolver : public OutputResolver {
 public:
  Resolver(Session* s, const KernelSpec& spec, std::vector<TensorView>& outs, const std::vector<IoBuffer>& inputs, const std::vector<IoBuffer>& outputs)
      : s_(s), spec_(spec), outs_(outs), inputs_(inputs), outputs_(outputs) {}
  StatusOr<void*> Resolve(size_t j, const std::vector<int64_t>& dims) override {
    if (j >= spec_.outputs.size()) return MCPC_ERROR(MCPC_E_KERNEL, "output %zu does not exist", j);
    const int id = spec_.outputs[j];
    const Slot& slot = s_->plan_.slots[id];
    if (slot.dynamic == DynamicDims::Static) {
      if (dims != slot.shape) return MCPC_ERROR(MCPC_E_KERNEL, "output %s has static dims the kernel does not match", slot.name.c_str());
      return outs_[j].data;
    }
    MCPC_RETURN_IF_ERROR(s_->ResolveSlot(id, dims));
    outs_[j].data = s_->SlotData(slot, inputs_, outputs_);
    outs_[j].numel = 1;
    for (int64_t d : dims) outs_[j].numel *= d;
    return outs_[j].data;
  }

 private:
  Session* s_;
  const KernelSpec& spec_;
  std::vector<TensorView>& outs_;
  const std::vector<IoBuffer>& inputs_;
  const std::vector<IoBuffer>& outputs_;
};

Status Session::PrepareBroadcast(size_t k) {
  const KernelSpec& spec = plan_.kernels[k];
  std::vector<std::vector<int64_t>> inDims;
  std::vector<int64_t> out;
  for (int id : spec.inputs) {
    if (id < 0) continue;
    const std::vector<int64_t>& d = live_.slots[id].shape;
    inDims.push_back(d);
    if (d.size() > out.size()) out.insert(out.begin(), d.size() - out.size(), 1);
    for (size_t i = 0; i < d.size(); ++i) {
      int64_t& o = out[out.size() - d.size() + i];
      if (d[i] == o || d[i] == 1) continue;
      if (o != 1) {
        return MCPC_ERROR(MCPC_E_KERNEL, "%s has dims that do not broadcast with the kernel's other inputs at run time",
                          plan_.slots[id].name.c_str());
      }
      o = d[i];
    }
  }
  for (int id : spec.outputs) {
    if (plan_.slots[id].dynamic == DynamicDims::Static) {
      if (plan_.slots[id].shape != out) return MCPC_ERROR(MCPC_E_KERNEL, "output %s has static dims its inputs do not give", plan_.slots[id].name.c_str());
      continue;
    }
    MCPC_RETURN_IF_ERROR(ResolveSlot(id, out));
  }
  if (!kernels_[k] || preparedDims_[k] != inDims) {
    StatusOr<std::unique_ptr<Kernel>> kernel = CreateKernel(k, live_, nullptr);
    if (!kernel.ok()) return kernel.status();
    kernels_[k] = kernel.take();
    preparedDims_[k] = std::move(inDims);
  }
  return Status::Ok();
}

namespace {

/** max |x| over the finite elements of a float32 view, and whether any element is NaN or infinite. */
ValueRange ScanRange(int slot, const TensorView& v) {
  ValueRange r;
  r.slot = slot;
  const float* x = v.as<const float>();
  float m = 0;
  for (int64_t i = 0; i < v.numel; ++i) {
    const float a = std::fabs(x[i]);
    if (std::isfinite(a)) m = std::max(m, a);
    else r.nonFinite = true;
  }
  r.maxAbs = m;
  return r;
}

}  // namespace

Status Session::Run(const std::vector<IoBuffer>& inputs, const std::vector<IoBuffer>& outputs, std::vector<DynamicResult>* dynamic,
                    std::vector<ValueRange>* ranges) {
  std::lock_guard<std::mutex> lock(runMu_);
  if (inputs.size() != plan_.inputSlots.size()) {
    return MCPC_ERROR(MCPC_E_BAD_INPUT, "expected %zu inputs, got %zu", plan_.inputSlots.size(), inputs.size());
  }
  if (outputs.size() != plan_.outputSlots.size()) {
    return MCPC_ERROR(MCPC_E_BAD_INPUT, "expected %zu output buffers, got %zu", plan_.outputSlots.size(), outputs.size());
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Slot& slot = plan_.slots[plan_.inputSlots[i]];
    if (inputs[i].byteLength != slot.byteLength) {
      return MCPC_ERROR(MCPC_E_BAD_INPUT, "input %s has %zu bytes, expected %zu", slot.name.c_str(), inputs[i].byteLength, slot.byteLength);
    }
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Slot& slot = plan_.slots[plan_.outputSlots[i]];
    if (slot.dynamic != DynamicDims::Static) continue;  // copied into `dynamic` at the end
    if (outputs[i].byteLength != slot.byteLength) {
      return MCPC_ERROR(MCPC_E_BAD_INPUT, "output buffer %s has %zu bytes, expected %zu", slot.name.c_str(), outputs[i].byteLength, slot.byteLength);
    }
  }
  RunContext ctx;
  ctx.pool = pool_.get();
  for (size_t k = 0; k < kernels_.size(); ++k) {
    const KernelSpec& spec = plan_.kernels[k];
    std::vector<TensorView>& ins = inputViews_[k];
    std::vector<TensorView>& outs = outputViews_[k];
    for (size_t j = 0; j < ins.size(); ++j) ins[j].data = spec.inputs[j] < 0 ? nullptr : SlotData(plan_.slots[spec.inputs[j]], inputs, outputs);
    Status s;
    if (spec.shapes == ShapeRule::Broadcast) s = PrepareBroadcast(k);
    if (!s.ok()) return InKernel(s, k, spec);
    for (size_t j = 0; j < outs.size(); ++j) outs[j].data = SlotData(plan_.slots[spec.outputs[j]], inputs, outputs);
    if (dynamic_) {
      // Element counts of dynamic values as they are in this run (the views' shapes point into live_).
      for (std::vector<TensorView>* views : {&ins, &outs}) {
        for (TensorView& v : *views) {
          if (!v.shape) continue;
          v.numel = 1;
          for (int64_t d : *v.shape) v.numel *= d;
        }
      }
    }
    Resolver resolver(this, spec, outs, inputs, outputs);
    ctx.outputs = spec.shapes == ShapeRule::Computed ? &resolver : nullptr;
    std::chrono::steady_clock::time_point t0;
    if (profile_.enabled) t0 = std::chrono::steady_clock::now();
    try {
      s = kernels_[k]->Run(ins, outs, ctx);
    } catch (const std::bad_alloc&) {
      s = MCPC_ERROR(MCPC_E_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception& e) {
      s = MCPC_ERROR(MCPC_E_KERNEL, "threw: %s", e.what());
    }
    if (profile_.enabled) profile_.Add(k, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    if (!s.ok()) return InKernel(s, k, spec);
    if (ranges) {
      for (size_t j = 0; j < outs.size(); ++j) {
        if (outs[j].dtype == DType::F32 && outs[j].data) ranges->push_back(ScanRange(spec.outputs[j], outs[j]));
      }
    }
  }
  if (profile_.enabled) ++profile_.runs;
  // Outputs that are inputs, weights, arena values or another output's slot are copied; outputs
  // computed in place (the usual case) are already in the caller's buffer.
  if (dynamic) dynamic->assign(outputs.size(), DynamicResult{});
  for (size_t j = 0; j < outputs.size(); ++j) {
    const Slot& slot = plan_.slots[plan_.outputSlots[j]];
    const void* src = SlotData(slot, inputs, outputs);
    if (slot.dynamic != DynamicDims::Static) {
      if (!dynamic) return MCPC_ERROR(MCPC_E_BAD_INPUT, "output %s has dynamic dims and needs a result list", slot.name.c_str());
      const Slot& live = live_.slots[slot.id];
      DynamicResult& r = (*dynamic)[j];
      r.present = true;
      r.dims = live.shape;
      const uint8_t* b = static_cast<const uint8_t*>(src);
      r.bytes.assign(b, b + (b ? live.byteLength : 0));
      continue;
    }
    if (src != outputs[j].data && slot.byteLength > 0) std::memcpy(outputs[j].data, src, slot.byteLength);
  }
  return Status::Ok();
}

}  // namespace mcpc
