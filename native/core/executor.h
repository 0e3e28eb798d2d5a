// The CPU executor: a Session owns everything one loaded plan needs to run (kernels prepared once,
// one 64-byte aligned activation arena, a thread pool) and runs the plan's kernels in order on the
// caller's buffers. Weights are used in place from the artifact bytes, which the owner keeps alive
// for the session's lifetime, or from a read-only mapping of the artifact file (MapWeightsFile)
// whose pages of weights that kernels packed at Prepare are given back (MADV_DONTNEED) once no
// kernel reads them. Nothing here knows about N-API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernel.h"
#include "kernel_profile.h"
#include "plan.h"
#include "status.h"
#include "thread_pool.h"

namespace mcpc {

/** One weight tensor: where it lies inside the weights section. */
struct WeightRef {
  uint64_t offset = 0;
  uint64_t byteLength = 0;
};

/**
 * The weights section of an artifact: borrowed (it must outlive the Session), or inside a
 * read-only private mapping of the artifact file that the section owns (MapWeightsFile).
 */
struct WeightsSection {
  const uint8_t* data = nullptr;
  size_t length = 0;
  std::vector<WeightRef> entries;
  /** Set by MapWeightsFile: the whole file's mapping, unmapped when the last owner goes. */
  std::shared_ptr<void> mapping;
  uint8_t* mapBase = nullptr;
  size_t mapLength = 0;
};

/**
 * Maps the artifact file at `path` read-only (MAP_PRIVATE) and points a section at its weights
 * ([offset, offset + length) of the file). MCPC1001 when the file cannot be opened or mapped,
 * MCPC4004 when it is shorter than the section's end.
 */
StatusOr<WeightsSection> MapWeightsFile(const std::string& path, uint64_t offset, uint64_t length, std::vector<WeightRef> entries);

/** With a non-empty `path`, points `weights` (its entries kept) at that file's mapped section; else leaves it. */
Status MapWeightsIfFile(const std::string& path, uint64_t offset, uint64_t length, WeightsSection* weights);

struct SessionOptions {
  /** Threads for kernels, the calling thread included; 0 picks the number of hardware threads. */
  int threads = 0;
};

/** A caller's buffer for one model input or output. */
struct IoBuffer {
  void* data = nullptr;
  size_t byteLength = 0;
};

/**
 * What one run wrote, value by value (fp16 range calibration): for each slot a kernel wrote with
 * float32 data, the largest finite |x| it held right after that kernel, and whether it held a
 * NaN or an infinity. Slots no kernel wrote (inputs, weights, views) are absent.
 */
struct ValueRange {
  int slot = -1;
  double maxAbs = 0;
  bool nonFinite = false;
};

/** A model output whose dims are known only at run time: its dims and bytes, copied out by Run. */
struct DynamicResult {
  bool present = false;
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;
};

class Session {
 public:
  /** Validates the plan against the weights, creates every kernel and allocates the arena. */
  static StatusOr<std::unique_ptr<Session>> Create(Plan plan, WeightsSection weights, SessionOptions options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Plan& plan() const { return plan_; }
  int threads() const { return pool_->threads(); }
  size_t arenaBytes() const { return arenaBytes_; }
  /** Bytes of mapped weight pages given back to the OS after Prepare (0 unless loaded from a file). */
  size_t releasedWeightBytes() const { return releasedWeightBytes_; }

  /**
   * Runs the plan: inputs[i] holds model input i, outputs[i] receives model output i (both sized
   * exactly as the plan says). Calls from several threads are serialized: there is one arena.
   * Outputs with dynamic dims take no caller buffer (outputs[i] is empty): they are copied into
   * (*dynamic)[i] with their run-time dims. With `ranges`, each kernel's float32 outputs are
   * scanned after it runs (ValueRange, in kernel order).
   */
  Status Run(const std::vector<IoBuffer>& inputs, const std::vector<IoBuffer>& outputs, std::vector<DynamicResult>* dynamic = nullptr,
             std::vector<ValueRange>* ranges = nullptr);

  /** Whether model output i has dims known only at run time. */
  bool DynamicOutput(size_t i) const { return plan_.slots[plan_.outputSlots[i]].dynamic != DynamicDims::Static; }

 private:
  Session() = default;
  Status Prepare();
  /** Creates kernel k for the slot types of `plan` (the loaded plan, or live_ with run-time dims). */
  StatusOr<std::unique_ptr<Kernel>> CreateKernel(size_t k, const Plan& plan, std::vector<bool>* released);
  /** Sets a dynamic slot's run-time dims, checking its bound or growing its heap buffer. */
  Status ResolveSlot(int id, const std::vector<int64_t>& dims);
  /** Broadcast kernels: the output dims from the inputs', and the kernel prepared for them. */
  Status PrepareBroadcast(size_t k);
  class Resolver;
  /** Drops the mapped pages of weights that only Prepare read (packed by their kernels). */
  void ReleasePackedWeights(const std::vector<bool>& readAtRun);
  void* SlotData(const Slot& slot, const std::vector<IoBuffer>& inputs, const std::vector<IoBuffer>& outputs) const;

  Plan plan_;
  WeightsSection weights_;
  /** Owned copy of the weights, only when the borrowed bytes are misaligned for their dtypes. */
  uint8_t* ownedWeights_ = nullptr;
  uint8_t* arena_ = nullptr;
  size_t arenaBytes_ = 0;
  size_t releasedWeightBytes_ = 0;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<std::unique_ptr<Kernel>> kernels_;
  // Views per kernel, built once; Run only patches their data pointers.
  std::vector<std::vector<TensorView>> inputViews_;
  std::vector<std::vector<TensorView>> outputViews_;
  // Dynamic dims: live_ is the plan with each dynamic slot's run-time dims (kernels of
  // ShapeRule::Broadcast are prepared on it), heap_ the buffers of unbounded values.
  bool dynamic_ = false;
  Plan live_;
  struct HeapBuffer {
    std::shared_ptr<uint8_t> data;
    size_t capacity = 0;
  };
  std::vector<HeapBuffer> heap_;
  std::vector<std::vector<std::vector<int64_t>>> preparedDims_;
  std::mutex runMu_;
  // Per-kernel profiling (env MCPC_PROFILE, kernel_profile.h). Off: one branch per kernel.
  KernelProfile profile_;
};

/** Checks that every id, offset and size in the plan is in range; MCPC4010 names the first offender. */
Status ValidatePlan(const Plan& plan, const WeightsSection& weights);

}  // namespace mcpc
