// The CUDA backend's face to the binding: a session that runs a cuda-target plan on one GPU, device
// buffers that outlive a run (device-resident tensors), and device discovery. Plain C++ only: no
// CUDA or N-API header is included here, so the binding compiles without either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "executor.h"
#include "plan.h"
#include "status.h"

namespace mcpc {
namespace cuda {

struct CudaOptions {
  int device = 0;
};

/** A GPU as cudaGetDeviceProperties sees it. */
struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  /** major * 10 + minor (90 = sm_90). */
  int computeCapability = 0;
  uint64_t memoryBytes = 0;
};

/**
 * The GPUs of this machine; empty (with `why` saying so, if given) when there is no driver, no
 * device, or the build has no CUDA backend. Never fails otherwise.
 */
std::vector<DeviceInfo> ListDevices(std::string* why = nullptr);

/** Versions of the libraries this build was compiled against ("" where absent). */
struct BuildVersions {
  std::string cudaRuntime;
  std::string cudnn;
};
BuildVersions Versions();
bool HasCudnn();

/** One cudaMalloc'ed buffer on one device, freed when the last owner lets go. */
class DeviceBuffer {
 public:
  /** MCPC5102 when the device is out of memory, MCPC5006 when there is no such device. */
  static StatusOr<std::shared_ptr<DeviceBuffer>> Allocate(int device, size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  int device() const { return device_; }
  /** Synchronous copies of the whole buffer (`bytes()` bytes) to or from host memory. */
  Status Download(void* host) const;
  Status Upload(const void* host);

 private:
  DeviceBuffer() = default;
  void* data_ = nullptr;
  size_t bytes_ = 0;
  int device_ = 0;
};

/** One model input: host bytes, or a device buffer (copied device to device). */
struct CudaFeed {
  const void* host = nullptr;
  size_t byteLength = 0;
  std::shared_ptr<DeviceBuffer> device;
};

class CudaSession {
 public:
  /**
   * Checks the device and the plan, uploads the weights (one allocation, one copy), allocates the
   * arena and the I/O buffers, compiles the plan's CUDA source with NVRTC (or takes it from the
   * on-disk cache) and prepares every library call. `weights` is only read during Create.
   */
  static StatusOr<std::unique_ptr<CudaSession>> Create(Plan plan, const WeightsSection& weights, CudaOptions options);
  ~CudaSession();
  CudaSession(const CudaSession&) = delete;
  CudaSession& operator=(const CudaSession&) = delete;

  const Plan& plan() const;
  int device() const;
  size_t arenaBytes() const;
  size_t weightBytes() const;
  /** Device memory the session holds: weights, arena, I/O buffers, workspace, padded copies. */
  size_t deviceBytes() const;
  /** "pending" (before the first run), "captured", "off" (MCPC_CUDA_GRAPH=0 or sync mode) or "failed: <why>". */
  std::string graphState() const;
  /** The L2 tier: "none" (the plan has no window), "window of N bytes, ...", or "off: <why>". */
  std::string l2WindowState() const;

  /**
   * Runs the plan: copies the inputs in, runs every kernel (replaying a CUDA graph after the first
   * run), then either copies the outputs to `hostOutputs` (exactly sized) or, with
   * `deviceOutputs`, to new device buffers returned in `deviceResults`. Calls are serialized.
   */
  Status Run(const std::vector<CudaFeed>& inputs, const std::vector<IoBuffer>& hostOutputs, bool deviceOutputs,
             std::vector<std::shared_ptr<DeviceBuffer>>* deviceResults);

 private:
  struct Impl;
  explicit CudaSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cuda
}  // namespace mcpc
