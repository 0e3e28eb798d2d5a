// Device buffers, device discovery and the build's library versions (cuda_session.h).
#include <cuda_runtime_api.h>

#include "cuda_check.h"
#include "cuda_session.h"

namespace mcpc {
namespace cuda {

std::vector<DeviceInfo> ListDevices(std::string* why) {
  std::vector<DeviceInfo> out;
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why) *why = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    return out;
  }
  if (count == 0 && why) *why = "no CUDA device found";
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    DeviceInfo d;
    d.ordinal = i;
    d.name = prop.name;
    d.computeCapability = prop.major * 10 + prop.minor;
    d.memoryBytes = prop.totalGlobalMem;
    out.push_back(d);
  }
  return out;
}

BuildVersions Versions() {
  BuildVersions v;
  v.cudaRuntime = std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10);
#if MCPC_WITH_CUDNN
  v.cudnn = std::to_string(CUDNN_MAJOR) + "." + std::to_string(CUDNN_MINOR) + "." + std::to_string(CUDNN_PATCHLEVEL);
#endif
  return v;
}

bool HasCudnn() { return MCPC_WITH_CUDNN != 0; }

StatusOr<std::shared_ptr<DeviceBuffer>> DeviceBuffer::Allocate(int device, size_t bytes) {
  MCPC_CUDA_RETURN_IF_ERROR(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
  std::shared_ptr<DeviceBuffer> b(new DeviceBuffer());
  b->device_ = device;
  b->bytes_ = bytes;
  // cudaMalloc(0) may hand back nullptr; a real (256-byte aligned) allocation keeps addresses distinct.
  const cudaError_t e = cudaMalloc(&b->data_, bytes > 0 ? bytes : 1);
  if (e != cudaSuccess) {
    cudaGetLastError();
    b->data_ = nullptr;
    if (e == cudaErrorMemoryAllocation) {
      size_t free = 0, total = 0;
      cudaMemGetInfo(&free, &total);
      cudaGetLastError();
      return MCPC_ERROR(MCPC_E_DEVICE_OOM, "out of memory on cuda:%d: cannot allocate %zu bytes (%zu of %zu bytes free)", device, bytes, free, total);
    }
    return CudaStatus(e, "cudaMalloc(" + std::to_string(bytes) + " bytes) on cuda:" + std::to_string(device), __FILE__, __LINE__);
  }
  return b;
}

DeviceBuffer::~DeviceBuffer() {
  if (!data_) return;
  // Errors are ignored: at process exit the runtime may already be unloading.
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current != device_) cudaSetDevice(device_);
  cudaFree(data_);
  if (current >= 0 && current != device_) cudaSetDevice(current);
  cudaGetLastError();
}

Status DeviceBuffer::Download(void* host) const {
  MCPC_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_), "cudaSetDevice");
  if (bytes_ > 0) MCPC_CUDA_RETURN_IF_ERROR(cudaMemcpy(host, data_, bytes_, cudaMemcpyDeviceToHost), "copying a device tensor to the host");
  return Status::Ok();
}

Status DeviceBuffer::Upload(const void* host) {
  MCPC_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_), "cudaSetDevice");
  if (bytes_ > 0) MCPC_CUDA_RETURN_IF_ERROR(cudaMemcpy(data_, host, bytes_, cudaMemcpyHostToDevice), "copying a host tensor to the device");
  return Status::Ok();
}

}  // namespace cuda
}  // namespace mcpc
