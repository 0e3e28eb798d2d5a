// CudaSession: a cuda-target plan on one GPU. Load: check the device and the plan, upload the
// weights (one allocation, one copy), allocate the arena and the I/O buffers, compile the plan's
// CUDA source (NVRTC, cached on disk), resolve every launch once and prepare the library anchors.
// Run: copy the inputs in, enqueue every kernel (before launches, library anchor, after launches),
// copy the outputs out, synchronize. The first run is eager; it is then captured in a CUDA graph
// that every later run replays. Every device address is fixed at load, which is what makes both
// the precomputed launch arguments and the graph valid for the session's lifetime.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "cuda_check.h"
#include "cuda_env.h"
#include "cuda_session.h"
#include "gpu_timer.h"
#include "kernel_profile.h"
#include "library_ops.h"
#include "nvrtc_module.h"
#include "sha256.h"

namespace mcpc {
namespace cuda {

namespace {

constexpr size_t kCublasWorkspace = size_t(32) << 20;  // what cuBLASLt asks for on Hopper
constexpr size_t kCudnnWorkspace = size_t(256) << 20;   // largest workspace a Conv algorithm may take
constexpr int kDefaultSharedLimit = 48 << 10;           // dynamic shared memory without opting in

Status InKernel(const Status& s, size_t k, const KernelSpec& spec) {
  return Status::Error(s.code(), FormatMessage("kernel %zu (%s at node '%s'): %s", k, spec.op.c_str(), spec.source.c_str(), s.message().c_str()),
                       __FILE__, __LINE__);
}

std::string Dim3Text(const int64_t d[3]) {
  return "[" + std::to_string(d[0]) + "," + std::to_string(d[1]) + "," + std::to_string(d[2]) + "]";
}

/** One generated-kernel launch with its argument values precomputed. */
struct LaunchBinding {
  const CudaLaunch* launch = nullptr;
  cudaKernel_t kernel = nullptr;
  dim3 grid, block;
  unsigned sharedBytes = 0;
  std::vector<void*> values;  // device addresses of the argument slots
  std::vector<void*> argv;    // pointers to `values`, what cudaLaunchKernel takes
};

struct KernelBinding {
  std::vector<LaunchBinding> before, after;
  std::unique_ptr<LibraryOp> library;
  /** The library call's workspace: the kernel's scratch region of the arena, or the shared buffer (null until it exists). */
  void* workspace = nullptr;
  size_t workspaceBytes = 0;
};

/** The cuda-specific parts of the plan the core's ValidatePlan does not know. */
Status ValidateCudaPlan(const Plan& plan) {
  if (plan.target != "cuda") return MCPC_ERROR(MCPC_E_INVALID_PLAN, "the plan targets %s, not cuda", plan.target.c_str());
  const int nslots = static_cast<int>(plan.slots.size());
  bool anyLaunch = false;
  for (size_t k = 0; k < plan.kernels.size(); ++k) {
    const KernelSpec& spec = plan.kernels[k];
    if (!spec.cuda.present) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) has no CUDA code", k, spec.op.c_str(), spec.source.c_str());
    }
    const CudaKernelCode& c = spec.cuda;
    if (c.library == "cublaslt" && spec.op != "MatMul" && spec.op != "Gemm") {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) names library cublaslt, which computes MatMul and Gemm only", k,
                        spec.op.c_str(), spec.source.c_str());
    }
    if (c.library == "cudnn" && spec.op != "Conv" && spec.op != "NhwcConv") {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) names library cudnn, which computes Conv and NhwcConv only", k, spec.op.c_str(),
                        spec.source.c_str());
    }
    if (c.scratchBytes > 0) {
      if (c.scratchOffset % 256 != 0 || static_cast<uint64_t>(c.scratchOffset) + static_cast<uint64_t>(c.scratchBytes) > plan.arenaSize) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) scratch [%lld, +%lld) is not a 256-byte aligned region of the %zu-byte arena",
                          k, spec.op.c_str(), spec.source.c_str(), static_cast<long long>(c.scratchOffset), static_cast<long long>(c.scratchBytes),
                          plan.arenaSize);
      }
      // The region is free while the kernel runs: none of the kernel's own arena slots may touch it.
      const int64_t lo = c.scratchOffset, hi = c.scratchOffset + c.scratchBytes;
      std::vector<int> own(spec.inputs.begin(), spec.inputs.end());
      own.insert(own.end(), spec.outputs.begin(), spec.outputs.end());
      for (const std::vector<CudaLaunch>* list : {&c.before, &c.after}) {
        for (const CudaLaunch& launch : *list) own.insert(own.end(), launch.args.begin(), launch.args.end());
      }
      for (int id : own) {
        if (id < 0 || id >= nslots || plan.slots[id].kind != SlotKind::Arena) continue;
        const Slot& slot = plan.slots[id];
        if (slot.index < hi && lo < slot.index + static_cast<int64_t>(slot.byteLength)) {
          return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) scratch [%lld, +%lld) overlaps its slot '%s' (arena offset %lld)", k,
                            spec.op.c_str(), spec.source.c_str(), static_cast<long long>(lo), static_cast<long long>(c.scratchBytes), slot.name.c_str(),
                            static_cast<long long>(slot.index));
        }
      }
    }
    if (c.library.empty() && c.before.empty() && c.after.empty() && !spec.outputs.empty()) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) has neither a library call nor launches", k, spec.op.c_str(),
                        spec.source.c_str());
    }
    for (const std::vector<CudaLaunch>* list : {&c.before, &c.after}) {
      for (size_t l = 0; l < list->size(); ++l) {
        anyLaunch = true;
        const CudaLaunch& launch = (*list)[l];
        for (size_t a = 0; a < launch.args.size(); ++a) {
          if (launch.args[a] < 0 || launch.args[a] >= nslots) {
            return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) launch '%s' args[%zu] is %d, not a slot id", k, spec.op.c_str(),
                              spec.source.c_str(), launch.entry.c_str(), a, launch.args[a]);
          }
        }
      }
    }
  }
  if (anyLaunch && (!plan.cuda.present || plan.cuda.source.empty())) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "the plan launches generated kernels but has no CUDA source (plan.cuda)");
  }
  return Status::Ok();
}

}  // namespace

struct CudaSession::Impl {
  Plan plan;
  std::vector<WeightRef> weightRefs;
  int device = 0;
  cudaDeviceProp prop{};
  CudaEnv env;
  cudaStream_t stream = nullptr;
  cublasLtHandle_t cublasLt = nullptr;
#if MCPC_WITH_CUDNN
  cudnnHandle_t cudnn = nullptr;
#endif
  std::shared_ptr<DeviceBuffer> weights, arena, workspace;
  std::vector<std::shared_ptr<DeviceBuffer>> inputs, outputs;
  std::unique_ptr<KernelModule> module;
  std::vector<KernelBinding> kernels;

  std::mutex mu;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t graphExec = nullptr;
  std::string graphState = "pending";
  /** The L2 tier: the arena's first plan.l2WindowBytes as a persisting access-policy window. */
  std::string l2State = "none";
  bool l2Active = false;
  cudaAccessPolicyWindow l2Window{};
  /** Set after an error that left the GPU context unusable. */
  std::string broken;
  /** MCPC_PROFILE: events[k] before kernel k, the last after all (event nodes of the captured graph). */
  KernelProfile profile;
  std::vector<cudaEvent_t> events;

  ~Impl() {
    if (stream) {
      cudaSetDevice(device);
      cudaStreamSynchronize(stream);
    }
    profile.Report(plan, "cuda");
    for (cudaEvent_t e : events) cudaEventDestroy(e);
    if (graphExec) cudaGraphExecDestroy(graphExec);
    if (graph) cudaGraphDestroy(graph);
    kernels.clear();  // library ops hold descriptors of the handles below
#if MCPC_WITH_CUDNN
    if (cudnn) cudnnDestroy(cudnn);
#endif
    if (cublasLt) cublasLtDestroy(cublasLt);
    module.reset();
    if (stream) cudaStreamDestroy(stream);
    cudaGetLastError();
  }

  void* Address(int id) const {
    const Slot& s = plan.slots[id];
    switch (s.kind) {
      case SlotKind::Input: return inputs[s.index]->data();
      case SlotKind::Output: return outputs[s.index]->data();
      case SlotKind::Weight: return static_cast<char*>(weights->data()) + weightRefs[s.index].offset;
      case SlotKind::Arena: return static_cast<char*>(arena->data()) + s.index;
      case SlotKind::Heap: return nullptr;  // plans with run-time dims never load on cuda (binding/cuda_wrap.cc)
    }
    return nullptr;
  }

  /** A device buffer whose failure says what it was for. */
  StatusOr<std::shared_ptr<DeviceBuffer>> Alloc(size_t bytes, const std::string& what) {
    auto b = DeviceBuffer::Allocate(device, bytes);
    if (!b.ok()) return Status::Error(b.status().code(), what + ": " + b.status().message(), __FILE__, __LINE__);
    return b;
  }

  Status OpenDevice(int ordinal) {
    std::string why;
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return MCPC_ERROR(MCPC_E_DEVICE_UNAVAILABLE, "device cuda:%d is not available: no usable CUDA driver or device (%s: %s)", ordinal,
                        cudaGetErrorName(e), cudaGetErrorString(e));
    }
    if (ordinal < 0 || ordinal >= count) {
      return MCPC_ERROR(MCPC_E_DEVICE_UNAVAILABLE, "device cuda:%d is not available: this machine has %d CUDA device%s", ordinal, count,
                        count == 1 ? "" : "s");
    }
    device = ordinal;
    MCPC_CUDA_RETURN_IF_ERROR(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
    MCPC_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    const int cc = prop.major * 10 + prop.minor;
    if (plan.cuda.present && plan.cuda.minComputeCapability > cc) {
      const int need = plan.cuda.minComputeCapability;
      return MCPC_ERROR(MCPC_E_COMPUTE_CAPABILITY, "the artifact needs a GPU of compute capability %d.%d (sm_%d) or newer; cuda:%d (%s) is %d.%d (sm_%d)",
                        need / 10, need % 10, need, device, prop.name, prop.major, prop.minor, cc);
    }
    MCPC_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    return Status::Ok();
  }

  Status AllocateBuffers(const WeightsSection& w) {
    auto wb = Alloc(w.length, "the " + std::to_string(w.length) + "-byte weights");
    if (!wb.ok()) return wb.status();
    weights = wb.take();
    if (w.length > 0) {
      MCPC_CUDA_RETURN_IF_ERROR(cudaMemcpy(weights->data(), w.data, w.length, cudaMemcpyHostToDevice), "uploading the weights");
    }
    auto ab = Alloc(plan.arenaSize, "the " + std::to_string(plan.arenaSize) + "-byte activation arena");
    if (!ab.ok()) return ab.status();
    arena = ab.take();
    inputs.resize(plan.inputSlots.size());
    for (size_t i = 0; i < plan.inputSlots.size(); ++i) {
      const Slot& s = plan.slots[plan.inputSlots[i]];
      auto b = Alloc(s.byteLength, "input " + s.name);
      if (!b.ok()) return b.status();
      inputs[i] = b.take();
    }
    outputs.resize(plan.outputSlots.size());
    for (const Slot& s : plan.slots) {
      if (s.kind != SlotKind::Output) continue;
      auto b = Alloc(s.byteLength, "output " + s.name);
      if (!b.ok()) return b.status();
      outputs[s.index] = b.take();
    }
    for (size_t j = 0; j < outputs.size(); ++j) {
      // Every slot of kind output must have a buffer before any address is taken.
      if (!outputs[j] && plan.slots[plan.outputSlots[j]].kind == SlotKind::Output) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "output %zu has no slot of kind output", j);
      }
    }
    return Status::Ok();
  }

  Status CompileModule() {
    if (!plan.cuda.present || plan.cuda.source.empty()) return Status::Ok();
    const std::string digest = Sha256Hex(plan.cuda.source);
    if (digest != plan.cuda.sha256) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.cuda.sha256 is %s, but the source's SHA-256 is %s", plan.cuda.sha256.c_str(), digest.c_str());
    }
    auto m = KernelModule::Load(plan.cuda.source, prop.major * 10 + prop.minor, env.cacheDir);
    if (!m.ok()) return m.status();
    module = m.take();
    return Status::Ok();
  }

  /** Checks a launch against the kernel and the device and precomputes its arguments. */
  Status BindLaunch(const CudaLaunch& l, LaunchBinding* b) {
    auto kernel = module->Kernel(l.entry);
    if (!kernel.ok()) return kernel.status();
    b->launch = &l;
    b->kernel = kernel.value();
    const void* fn = reinterpret_cast<const void*>(b->kernel);
    cudaFuncAttributes attr{};
    MCPC_CUDA_RETURN_IF_ERROR(cudaFuncGetAttributes(&attr, fn), "cudaFuncGetAttributes('" + l.entry + "')");
    const int64_t threads = l.block[0] * l.block[1] * l.block[2];
    if (l.block[0] > prop.maxThreadsDim[0] || l.block[1] > prop.maxThreadsDim[1] || l.block[2] > prop.maxThreadsDim[2] ||
        threads > attr.maxThreadsPerBlock) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "launch '%s' has block %s (%lld threads); the kernel allows %d threads per block", l.entry.c_str(),
                        Dim3Text(l.block).c_str(), static_cast<long long>(threads), attr.maxThreadsPerBlock);
    }
    if (l.grid[0] > prop.maxGridSize[0] || l.grid[1] > prop.maxGridSize[1] || l.grid[2] > prop.maxGridSize[2]) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "launch '%s' has grid %s, beyond the device's [%d,%d,%d]", l.entry.c_str(), Dim3Text(l.grid).c_str(),
                        prop.maxGridSize[0], prop.maxGridSize[1], prop.maxGridSize[2]);
    }
    if (static_cast<uint64_t>(l.sharedBytes) + attr.sharedSizeBytes > prop.sharedMemPerBlockOptin) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "launch '%s' asks for %lld bytes of dynamic shared memory (plus %zu static); the device allows %zu",
                        l.entry.c_str(), static_cast<long long>(l.sharedBytes), attr.sharedSizeBytes, prop.sharedMemPerBlockOptin);
    }
    if (l.sharedBytes > kDefaultSharedLimit - static_cast<int64_t>(attr.sharedSizeBytes)) {
      MCPC_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(l.sharedBytes)),
                                "cudaFuncSetAttribute('" + l.entry + "', MaxDynamicSharedMemorySize)");
    }
    MCPC_RETURN_IF_ERROR(CheckParams(l, fn));
    b->grid = dim3(static_cast<unsigned>(l.grid[0]), static_cast<unsigned>(l.grid[1]), static_cast<unsigned>(l.grid[2]));
    b->block = dim3(static_cast<unsigned>(l.block[0]), static_cast<unsigned>(l.block[1]), static_cast<unsigned>(l.block[2]));
    b->sharedBytes = static_cast<unsigned>(l.sharedBytes);
    b->values.resize(l.args.size());
    for (size_t a = 0; a < l.args.size(); ++a) b->values[a] = Address(l.args[a]);
    b->argv.resize(l.args.size());
    for (size_t a = 0; a < l.args.size(); ++a) b->argv[a] = &b->values[a];
    return Status::Ok();
  }

  /**
   * The kernel must take exactly one pointer per argument slot: a mismatch between the generator
   * and this runtime would otherwise read garbage parameters. Skipped where the driver cannot say.
   */
  Status CheckParams(const CudaLaunch& l, const void* fn) {
    size_t offset = 0, size = 0;
    for (size_t i = 0; i <= l.args.size(); ++i) {
      const cudaError_t e = cudaFuncGetParamInfo(fn, i, &offset, &size);
      if (e != cudaSuccess) cudaGetLastError();
      if (i == l.args.size()) {
        if (e == cudaSuccess) {
          return MCPC_ERROR(MCPC_E_INVALID_PLAN, "kernel '%s' takes more than the %zu parameters the plan passes", l.entry.c_str(), l.args.size());
        }
        break;
      }
      if (e == cudaErrorInvalidValue) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "kernel '%s' takes %zu parameters, the plan passes %zu", l.entry.c_str(), i, l.args.size());
      }
      if (e != cudaSuccess) return Status::Ok();  // not supported by this driver: nothing to check
      if (size != sizeof(void*)) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "kernel '%s' parameter %zu is %zu bytes, not a pointer", l.entry.c_str(), i, size);
      }
    }
    return Status::Ok();
  }

  Status PrepareKernels() {
    bool anyCublas = false, anyCudnn = false;
    for (const KernelSpec& spec : plan.kernels) {
      anyCublas = anyCublas || spec.cuda.library == "cublaslt";
      anyCudnn = anyCudnn || spec.cuda.library == "cudnn";
    }
    if (anyCublas) MCPC_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&cublasLt), "cublasLtCreate");
    std::shared_ptr<DeviceBuffer> search;
#if MCPC_WITH_CUDNN
    if (anyCudnn) {
      MCPC_CUDNN_RETURN_IF_ERROR(cudnnCreate(&cudnn), "cudnnCreate");
      MCPC_CUDNN_RETURN_IF_ERROR(cudnnSetStream(cudnn, stream), "cudnnSetStream");
    }
#endif
    if (anyCublas || anyCudnn) {
      // Algorithm search (cuDNN's benchmark, timing cuBLASLt's candidates) gets a generous scratch
      // buffer, but never more than a quarter of what is free; it is released once every op is prepared.
      size_t free = 0, total = 0;
      MCPC_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
      const size_t cap = anyCudnn ? kCudnnWorkspace : kCublasWorkspace;
      auto s = Alloc(std::max<size_t>(size_t(1) << 20, std::min(cap, free / 4)), "the algorithm search workspace");
      if (!s.ok()) return s.status();
      search = s.take();
    }
    kernels.resize(plan.kernels.size());
    size_t need = 0;
    for (size_t k = 0; k < plan.kernels.size(); ++k) {
      const KernelSpec& spec = plan.kernels[k];
      KernelBinding& kb = kernels[k];
      kb.before.resize(spec.cuda.before.size());
      kb.after.resize(spec.cuda.after.size());
      for (size_t l = 0; l < spec.cuda.before.size(); ++l) {
        Status s = BindLaunch(spec.cuda.before[l], &kb.before[l]);
        if (!s.ok()) return InKernel(s, k, spec);
      }
      for (size_t l = 0; l < spec.cuda.after.size(); ++l) {
        Status s = BindLaunch(spec.cuda.after[l], &kb.after[l]);
        if (!s.ok()) return InKernel(s, k, spec);
      }
      if (spec.cuda.library.empty()) continue;
      LibraryContext ctx{spec, plan, [this](int id) { return Address(id); }};
      ctx.device = device;
      ctx.stream = stream;
      ctx.cublasLt = cublasLt;
#if MCPC_WITH_CUDNN
      ctx.cudnn = cudnn;
#endif
      ctx.searchWorkspace = search ? search->data() : nullptr;
      ctx.searchWorkspaceBytes = search ? search->bytes() : 0;
      ctx.maxWorkspaceBytes = spec.cuda.library == "cublaslt" ? kCublasWorkspace : kCudnnWorkspace;
      ctx.scratchBytes = static_cast<size_t>(spec.cuda.scratchBytes);
      ctx.tune = env.tune;
      auto op = spec.cuda.library == "cublaslt" ? CreateCublasLtOp(ctx) : CreateCudnnConvOp(ctx);
      if (!op.ok()) return InKernel(op.status(), k, spec);
      kb.library = op.take();
      if (env.tune && kb.library->replacesAfter() && !kb.after.empty()) {
        Status s = KeepFasterEpilogue(kb, ctx.searchWorkspace, ctx.searchWorkspaceBytes);
        if (!s.ok()) return InKernel(s, k, spec);
      }
      // A workspace that fits the arena's free bytes at this step goes there; the others share one buffer.
      const size_t wants = kb.library->workspaceBytes();
      if (wants > 0 && wants <= static_cast<size_t>(spec.cuda.scratchBytes)) {
        kb.workspace = static_cast<char*>(arena->data()) + spec.cuda.scratchOffset;
        kb.workspaceBytes = static_cast<size_t>(spec.cuda.scratchBytes);
        continue;
      }
      need = std::max(need, wants);
    }
    search.reset();
    auto ws = Alloc(need, "the " + std::to_string(need) + "-byte cuBLASLt/cuDNN workspace");
    if (!ws.ok()) return ws.status();
    workspace = ws.take();
    for (size_t k = 0; k < kernels.size(); ++k) {
      KernelBinding& kb = kernels[k];
      if (kb.library && !kb.workspace) {
        kb.workspace = workspace->data();
        kb.workspaceBytes = workspace->bytes();
      }
    }
    return Status::Ok();
  }

  /**
   * A library op that can fold the kernel's epilogue into its own call (cuDNN's
   * conv-bias-activation) against the plain call plus the generated launch, each timed on the GPU
   * (GraphTimeUs); the faster is kept. cuDNN may run the fused form as several kernels of its
   * own, which at small sizes loses to one generated launch.
   */
  Status KeepFasterEpilogue(KernelBinding& kb, void* scratch, size_t scratchBytes) {
    auto once = [&]() -> Status {
      MCPC_RETURN_IF_ERROR(kb.library->Enqueue(stream, scratch, scratchBytes));
      if (!kb.library->replacesAfter()) {
        for (const LaunchBinding& b : kb.after) MCPC_RETURN_IF_ERROR(Launch(b, false));
      }
      return Status::Ok();
    };
    StatusOr<float> fused = GraphTimeUs(stream, 10, once);
    kb.library->useFusedEpilogue(false);
    StatusOr<float> plain = GraphTimeUs(stream, 10, once);
    if (!plain.ok()) return plain.status();  // the plain form must run
    kb.library->useFusedEpilogue(fused.ok() && fused.value() < plain.value());
    if (!fused.ok()) cudaGetLastError();
    return Status::Ok();
  }

  Status Launch(const LaunchBinding& b, bool check) {
    cudaError_t e = cudaLaunchKernel(reinterpret_cast<const void*>(b.kernel), b.grid, b.block, const_cast<void**>(b.argv.data()), b.sharedBytes, stream);
    if (e == cudaSuccess && check) e = cudaGetLastError();
    if (e != cudaSuccess) {
      return CudaStatus(e, "launch of '" + b.launch->entry + "' (grid " + Dim3Text(b.launch->grid) + ", block " + Dim3Text(b.launch->block) + ")",
                        __FILE__, __LINE__);
    }
    return Status::Ok();
  }

  /** Enqueues every kernel; `check` looks for launch errors after each (not possible while capturing). */
  Status EnqueueKernels(bool check) {
    // Profiled runs record an event before each kernel; while capturing, as external event nodes
    // of the graph, so replays time the kernels back to back without the host's launch gaps.
    const bool timed = !events.empty();
    const unsigned eventFlags = check ? cudaEventRecordDefault : cudaEventRecordExternal;
    for (size_t k = 0; k < kernels.size(); ++k) {
      const KernelSpec& spec = plan.kernels[k];
      const KernelBinding& kb = kernels[k];
      if (timed) MCPC_CUDA_RETURN_IF_ERROR(cudaEventRecordWithFlags(events[k], stream, eventFlags), "cudaEventRecord (MCPC_PROFILE)");
      for (const LaunchBinding& b : kb.before) {
        Status s = Launch(b, check);
        if (!s.ok()) return InKernel(s, k, spec);
      }
      if (kb.library) {
        Status s = kb.library->Enqueue(stream, kb.workspace, kb.workspaceBytes);
        if (!s.ok()) return InKernel(s, k, spec);
      }
      for (const LaunchBinding& b : kb.after) {
        if (kb.library && kb.library->replacesAfter()) break;
        Status s = Launch(b, check);
        if (!s.ok()) return InKernel(s, k, spec);
      }
      if (env.syncEachKernel) {
        const cudaError_t e = cudaStreamSynchronize(stream);
        if (e != cudaSuccess) return InKernel(CudaStatus(e, "running the kernel (MCPC_CUDA_SYNC=1)", __FILE__, __LINE__), k, spec);
      }
    }
    if (timed) MCPC_CUDA_RETURN_IF_ERROR(cudaEventRecordWithFlags(events.back(), stream, eventFlags), "cudaEventRecord (MCPC_PROFILE)");
    return Status::Ok();
  }

  /** After a profiled run has finished: adds each kernel's time between its events. */
  void CollectProfile() {
    if (events.empty()) return;
    for (size_t k = 0; k + 1 < events.size(); ++k) {
      float ms = 0;
      if (cudaEventElapsedTime(&ms, events[k], events[k + 1]) != cudaSuccess) {
        cudaGetLastError();
        return;
      }
      profile.Add(k, 1000.0 * ms);
    }
    ++profile.runs;
  }

  /**
   * Marks the arena's L2 tier persisting in L2 for this session's stream (and so for the kernels
   * a graph captures from it, which get the window as a node attribute). Best effort: a device or
   * driver without persisting L2 leaves the plan running from DRAM, and l2State says why.
   */
  void SetUpL2Window() {
    const size_t want = std::min(plan.l2WindowBytes, plan.arenaSize);
    if (want == 0 || !arena) return;
    if (prop.persistingL2CacheMaxSize <= 0 || prop.accessPolicyMaxWindowSize <= 0) {
      l2State = "off: the device has no persisting L2";
      return;
    }
    const size_t bytes = std::min<size_t>(want, static_cast<size_t>(prop.accessPolicyMaxWindowSize));
    size_t limit = 0;
    cudaDeviceGetLimit(&limit, cudaLimitPersistingL2CacheSize);
    const size_t persist = std::min<size_t>(bytes, static_cast<size_t>(prop.persistingL2CacheMaxSize));
    // The set-aside is per device: raise it for this session, never lower it under another one.
    if (limit < persist) {
      const cudaError_t e = cudaDeviceSetLimit(cudaLimitPersistingL2CacheSize, persist);
      if (e != cudaSuccess) {
        cudaGetLastError();
        l2State = std::string("off: cudaDeviceSetLimit: ") + cudaGetErrorName(e);
        return;
      }
      cudaDeviceGetLimit(&limit, cudaLimitPersistingL2CacheSize);
    }
    l2Window.base_ptr = arena->data();
    l2Window.num_bytes = bytes;
    l2Window.hitRatio = std::min(1.0f, static_cast<float>(limit) / static_cast<float>(bytes));
    l2Window.hitProp = cudaAccessPropertyPersisting;
    l2Window.missProp = cudaAccessPropertyStreaming;
    cudaStreamAttrValue value{};
    value.accessPolicyWindow = l2Window;
    const cudaError_t e = cudaStreamSetAttribute(stream, cudaStreamAttributeAccessPolicyWindow, &value);
    if (e != cudaSuccess) {
      cudaGetLastError();
      l2State = std::string("off: cudaStreamSetAttribute: ") + cudaGetErrorName(e);
      return;
    }
    l2Active = true;
    l2State = "window of " + std::to_string(bytes) + " bytes, " + std::to_string(limit) + " persisting";
  }

  /** Gives every kernel node of a captured graph the L2 window (stream attributes stay behind). */
  void ApplyL2WindowToGraph(cudaGraph_t g) {
    if (!l2Active) return;
    size_t count = 0;
    if (cudaGraphGetNodes(g, nullptr, &count) != cudaSuccess) {
      cudaGetLastError();
      return;
    }
    std::vector<cudaGraphNode_t> nodes(count);
    if (cudaGraphGetNodes(g, nodes.data(), &count) != cudaSuccess) {
      cudaGetLastError();
      return;
    }
    cudaKernelNodeAttrValue value{};
    value.accessPolicyWindow = l2Window;
    size_t applied = 0;
    for (cudaGraphNode_t node : nodes) {
      cudaGraphNodeType type;
      if (cudaGraphNodeGetType(node, &type) != cudaSuccess || type != cudaGraphNodeTypeKernel) continue;
      if (cudaGraphKernelNodeSetAttribute(node, cudaKernelNodeAttributeAccessPolicyWindow, &value) == cudaSuccess) ++applied;
    }
    cudaGetLastError();
    l2State += "; " + std::to_string(applied) + " graph kernel nodes";
  }

  /** Records the kernel sequence as a graph. On failure the session keeps running eagerly. */
  void Capture() {
    cudaError_t e = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) {
      cudaGetLastError();
      graphState = std::string("failed: cudaStreamBeginCapture: ") + cudaGetErrorName(e);
      return;
    }
    Status s = EnqueueKernels(false);
    cudaGraph_t g = nullptr;
    e = cudaStreamEndCapture(stream, &g);
    if (!s.ok() || e != cudaSuccess || !g) {
      cudaGetLastError();
      if (g) cudaGraphDestroy(g);
      graphState = "failed: " + (!s.ok() ? s.message() : std::string("cudaStreamEndCapture: ") + cudaGetErrorName(e));
      return;
    }
    ApplyL2WindowToGraph(g);
    cudaGraphExec_t exec = nullptr;
    e = cudaGraphInstantiate(&exec, g, 0);
    if (e != cudaSuccess) {
      cudaGetLastError();
      cudaGraphDestroy(g);
      graphState = std::string("failed: cudaGraphInstantiate: ") + cudaGetErrorName(e);
      return;
    }
    graph = g;
    graphExec = exec;
    graphState = "captured";
  }

  /** After a failed run: drain the stream and forget non-sticky errors; remember sticky ones. */
  Status Fail(Status s) {
    const cudaError_t e = cudaStreamSynchronize(stream);
    cudaGetLastError();
    if (IsStickyError(e) || s.message().find("the GPU context is unusable") != std::string::npos) broken = s.message();
    return s;
  }
};

CudaSession::CudaSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaSession::~CudaSession() = default;

const Plan& CudaSession::plan() const { return impl_->plan; }
int CudaSession::device() const { return impl_->device; }
size_t CudaSession::arenaBytes() const { return impl_->arena ? impl_->arena->bytes() : 0; }
size_t CudaSession::weightBytes() const { return impl_->weights ? impl_->weights->bytes() : 0; }

size_t CudaSession::deviceBytes() const {
  const Impl& m = *impl_;
  size_t total = 0;
  for (const auto* b : {&m.weights, &m.arena, &m.workspace}) total += *b ? (*b)->bytes() : 0;
  for (const auto& b : m.inputs) total += b ? b->bytes() : 0;
  for (const auto& b : m.outputs) total += b ? b->bytes() : 0;
  for (const KernelBinding& k : m.kernels) total += k.library ? k.library->extraDeviceBytes() : 0;
  return total;
}

std::string CudaSession::graphState() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->graphState;
}

std::string CudaSession::l2WindowState() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->l2State;
}

StatusOr<std::unique_ptr<CudaSession>> CudaSession::Create(Plan plan, const WeightsSection& weights, CudaOptions options) {
  MCPC_RETURN_IF_ERROR(ValidatePlan(plan, weights));
  MCPC_RETURN_IF_ERROR(ValidateCudaPlan(plan));
  auto impl = std::make_unique<Impl>();
  impl->plan = std::move(plan);
  impl->weightRefs = weights.entries;
  impl->env = ReadCudaEnv();
  impl->profile.Configure(impl->plan.kernels.size());
  if (!impl->env.graph) impl->graphState = "off";
  MCPC_RETURN_IF_ERROR(impl->OpenDevice(options.device));
  if (impl->profile.enabled) {
    impl->events.resize(impl->plan.kernels.size() + 1);
    for (cudaEvent_t& e : impl->events) MCPC_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e), "cudaEventCreate (MCPC_PROFILE)");
  }
  MCPC_RETURN_IF_ERROR(impl->AllocateBuffers(weights));
  impl->SetUpL2Window();
  MCPC_RETURN_IF_ERROR(impl->CompileModule());
  MCPC_RETURN_IF_ERROR(impl->PrepareKernels());
  if (impl->profile.enabled) {
    impl->profile.notes.resize(impl->kernels.size());
    for (size_t k = 0; k < impl->kernels.size(); ++k) {
      const KernelBinding& kb = impl->kernels[k];
      if (!kb.library) continue;
      const bool inArena = kb.workspace && impl->workspace && kb.workspace != impl->workspace->data();
      impl->profile.notes[k] = kb.library->describe() + (inArena ? " (in the arena)" : "");
    }
  }
  MCPC_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(impl->stream), "preparing the session");
  return std::unique_ptr<CudaSession>(new CudaSession(std::move(impl)));
}

Status CudaSession::Run(const std::vector<CudaFeed>& inputs, const std::vector<IoBuffer>& hostOutputs, bool deviceOutputs,
                        std::vector<std::shared_ptr<DeviceBuffer>>* deviceResults) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (!m.broken.empty()) {
    return MCPC_ERROR(MCPC_E_CUDA, "this session cannot run: an earlier run left cuda:%d unusable (%s); dispose it and restart the process", m.device,
                      m.broken.c_str());
  }
  const Plan& plan = m.plan;
  if (inputs.size() != plan.inputSlots.size()) {
    return MCPC_ERROR(MCPC_E_BAD_INPUT, "expected %zu inputs, got %zu", plan.inputSlots.size(), inputs.size());
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Slot& slot = plan.slots[plan.inputSlots[i]];
    const size_t bytes = inputs[i].device ? inputs[i].device->bytes() : inputs[i].byteLength;
    if (bytes != slot.byteLength) {
      return MCPC_ERROR(MCPC_E_BAD_INPUT, "input %s has %zu bytes, expected %zu", slot.name.c_str(), bytes, slot.byteLength);
    }
  }
  if (!deviceOutputs && hostOutputs.size() != plan.outputSlots.size()) {
    return MCPC_ERROR(MCPC_E_BAD_INPUT, "expected %zu output buffers, got %zu", plan.outputSlots.size(), hostOutputs.size());
  }
  for (size_t j = 0; !deviceOutputs && j < hostOutputs.size(); ++j) {
    const Slot& slot = plan.slots[plan.outputSlots[j]];
    if (hostOutputs[j].byteLength != slot.byteLength) {
      return MCPC_ERROR(MCPC_E_BAD_INPUT, "output buffer %s has %zu bytes, expected %zu", slot.name.c_str(), hostOutputs[j].byteLength, slot.byteLength);
    }
  }
  MCPC_CUDA_RETURN_IF_ERROR(cudaSetDevice(m.device), "cudaSetDevice");
  // Device results are allocated before anything runs, so running out of memory changes nothing.
  std::vector<std::shared_ptr<DeviceBuffer>> results;
  if (deviceOutputs) {
    for (size_t j = 0; j < plan.outputSlots.size(); ++j) {
      const Slot& slot = plan.slots[plan.outputSlots[j]];
      auto b = m.Alloc(slot.byteLength, "output " + slot.name);
      if (!b.ok()) return b.status();
      results.push_back(b.take());
    }
    MCPC_CUDA_RETURN_IF_ERROR(cudaSetDevice(m.device), "cudaSetDevice");
  }

  for (size_t i = 0; i < inputs.size(); ++i) {
    const Slot& slot = plan.slots[plan.inputSlots[i]];
    if (slot.byteLength == 0) continue;
    void* dst = m.inputs[i]->data();
    cudaError_t e;
    if (inputs[i].device && inputs[i].device->device() == m.device) {
      e = cudaMemcpyAsync(dst, inputs[i].device->data(), slot.byteLength, cudaMemcpyDeviceToDevice, m.stream);
    } else if (inputs[i].device) {
      e = cudaMemcpyPeerAsync(dst, m.device, inputs[i].device->data(), inputs[i].device->device(), slot.byteLength, m.stream);
    } else {
      e = cudaMemcpyAsync(dst, inputs[i].host, slot.byteLength, cudaMemcpyHostToDevice, m.stream);
    }
    if (e != cudaSuccess) return m.Fail(CudaStatus(e, "copying input " + slot.name + " to cuda:" + std::to_string(m.device), __FILE__, __LINE__));
  }

  const bool ranGraph = m.graphExec != nullptr;
  if (ranGraph) {
    const cudaError_t e = cudaGraphLaunch(m.graphExec, m.stream);
    if (e != cudaSuccess) return m.Fail(CudaStatus(e, "cudaGraphLaunch (the plan's CUDA graph)", __FILE__, __LINE__));
  } else {
    Status s = m.EnqueueKernels(true);
    if (!s.ok()) return m.Fail(s);
  }

  for (size_t j = 0; j < plan.outputSlots.size(); ++j) {
    const Slot& slot = plan.slots[plan.outputSlots[j]];
    if (slot.byteLength == 0) continue;
    const void* src = m.Address(plan.outputSlots[j]);
    const cudaError_t e = deviceOutputs ? cudaMemcpyAsync(results[j]->data(), src, slot.byteLength, cudaMemcpyDeviceToDevice, m.stream)
                                        : cudaMemcpyAsync(hostOutputs[j].data, src, slot.byteLength, cudaMemcpyDeviceToHost, m.stream);
    if (e != cudaSuccess) return m.Fail(CudaStatus(e, "copying output " + slot.name + " from cuda:" + std::to_string(m.device), __FILE__, __LINE__));
  }
  const cudaError_t e = cudaStreamSynchronize(m.stream);
  if (e != cudaSuccess) {
    std::string what = "running the plan on cuda:" + std::to_string(m.device);
    if (!m.env.syncEachKernel) what += " (run with MCPC_CUDA_SYNC=1 to find the kernel that failed)";
    return m.Fail(CudaStatus(e, what, __FILE__, __LINE__));
  }
  // The eager first run before the capture loads library kernels lazily: profiles leave it out.
  if (ranGraph || m.graphState != "pending") m.CollectProfile();
  // The eager first run has loaded every library kernel lazily; the graph can be captured now.
  if (!m.graphExec && m.graphState == "pending") {
    if (m.kernels.empty()) m.graphState = "off";
    else m.Capture();
  }
  if (deviceResults) *deviceResults = std::move(results);
  return Status::Ok();
}

}  // namespace cuda
}  // namespace mcpc
