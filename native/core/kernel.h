// The kernel interface and registry. A kernel is created once per plan entry when a session loads
// (Prepare: validate attributes, precompute indexing, pack constant weights) and then run many
// times on tensor views. Kernels register themselves by op name with MCPC_REGISTER_KERNEL; the
// set of registered names is what the cpu target supports (checked against the compiler's table).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plan.h"
#include "status.h"

namespace mcpc {

class ThreadPool;

/** A tensor in memory: row-major and contiguous. */
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::F32;
  const std::vector<int64_t>* shape = nullptr;
  int64_t numel = 0;

  template <typename T> T* as() const { return static_cast<T*>(data); }
  int64_t dim(size_t i) const { return (*shape)[i]; }
  size_t rank() const { return shape->size(); }
};

/** What Prepare sees: the spec, every slot's type, and the bytes of constant inputs (weights). */
struct PrepareContext {
  const KernelSpec& spec;
  const Plan& plan;
  /** Type of input/output i (nullptr for an omitted input). */
  const Slot* input(size_t i) const {
    int id = i < spec.inputs.size() ? spec.inputs[i] : -1;
    return id < 0 ? nullptr : &plan.slots[id];
  }
  const Slot* output(size_t i) const { return &plan.slots[spec.outputs[i]]; }
  /** Bytes of input i when it is a weight, else nullptr. Valid for the session's lifetime. */
  std::function<const void*(size_t)> constantInput;
  /**
   * Set by the executor (may be empty). A kernel calls releaseConstantInput(i) when it keeps no
   * pointer into constant input i after Prepare and never reads that input at Run (it packed a
   * copy): the executor may then drop the weight's pages once every kernel is prepared.
   */
  std::function<void(size_t)> onConstantInputReleased{};
  void releaseConstantInput(size_t i) const {
    if (onConstantInputReleased) onConstantInputReleased(i);
  }
};

/**
 * For kernels whose outputs have data-dependent dims (KernelSpec::shapes == Computed): the kernel
 * calls Resolve once per dynamic output, when it knows the dims, and writes the output where the
 * result points. An error (dims past the slot's bound, no memory) is returned as it is.
 */
class OutputResolver {
 public:
  virtual ~OutputResolver() = default;
  virtual StatusOr<void*> Resolve(size_t output, const std::vector<int64_t>& dims) = 0;
};

struct RunContext {
  ThreadPool* pool = nullptr;
  /** Set for kernels with ShapeRule::Computed. */
  OutputResolver* outputs = nullptr;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  /** Computes outputs from inputs. inputs[i].data is nullptr for an omitted input. */
  virtual Status Run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, RunContext& ctx) = 0;
};

using KernelFactory = std::function<StatusOr<std::unique_ptr<Kernel>>(const PrepareContext&)>;

class KernelRegistry {
 public:
  static KernelRegistry& Get();
  void Add(const std::string& op, KernelFactory factory);
  const KernelFactory* Find(const std::string& op) const;
  std::vector<std::string> Names() const;
  /** Ops registered more than once (a bug: which registration wins is unspecified). */
  const std::vector<std::string>& Duplicates() const { return duplicates_; }

 private:
  std::vector<std::pair<std::string, KernelFactory>> entries_;
  std::vector<std::string> duplicates_;
};

struct KernelRegistration {
  KernelRegistration(const char* op, KernelFactory factory) { KernelRegistry::Get().Add(op, std::move(factory)); }
};

}  // namespace mcpc

#define MCPC_KERNEL_CONCAT_(a, b) a##b
#define MCPC_KERNEL_CONCAT(a, b) MCPC_KERNEL_CONCAT_(a, b)
/** Registers `factory` (a KernelFactory) for IR op `op`, at static initialization. */
#define MCPC_REGISTER_KERNEL(op, factory) \
  static ::mcpc::KernelRegistration MCPC_KERNEL_CONCAT(mcpc_kernel_reg_, __COUNTER__)(op, factory)
