// Library results to Status (see cuda_check.h).
#include "cuda_check.h"

namespace mcpc {
namespace cuda {

bool IsStickyError(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
      return true;
    default:
      return false;
  }
}

bool IsNoDeviceError(cudaError_t e) {
  switch (e) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorStubLibrary:
    case cudaErrorCallRequiresNewerDriver:
    case cudaErrorDevicesUnavailable:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
    case cudaErrorInvalidDevice:
    case cudaErrorInitializationError:
      return true;
    default:
      return false;
  }
}

Status CudaStatus(cudaError_t e, const std::string& what, const char* file, int line) {
  const char* code = e == cudaErrorMemoryAllocation ? MCPC_E_DEVICE_OOM : IsNoDeviceError(e) ? MCPC_E_DEVICE_UNAVAILABLE : MCPC_E_CUDA;
  std::string message = what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  if (IsStickyError(e)) {
    message += "; the GPU context is unusable after this error: CUDA work in this process fails until it restarts";
  }
  return Status::Error(code, std::move(message), file, line);
}

Status CublasStatus(cublasStatus_t s, const std::string& what, const char* file, int line) {
  const char* code = s == CUBLAS_STATUS_ALLOC_FAILED ? MCPC_E_DEVICE_OOM : MCPC_E_CUDA;
  return Status::Error(code, what + ": " + cublasLtGetStatusName(s) + " (" + cublasLtGetStatusString(s) + ")", file, line);
}

Status NvrtcStatus(nvrtcResult r, const std::string& what, const char* file, int line) {
  const char* code = r == NVRTC_ERROR_OUT_OF_MEMORY ? MCPC_E_OUT_OF_MEMORY : MCPC_E_CUDA;
  return Status::Error(code, what + ": " + nvrtcGetErrorString(r), file, line);
}

#if MCPC_WITH_CUDNN
Status CudnnStatus(cudnnStatus_t s, const std::string& what, const char* file, int line) {
  const char* code = s == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED ? MCPC_E_DEVICE_OOM : MCPC_E_CUDA;
  std::string message = what + ": " + cudnnGetErrorString(s);
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof(detail));
  if (detail[0]) message += std::string(" (") + detail + ")";
  return Status::Error(code, std::move(message), file, line);
}
#endif

}  // namespace cuda
}  // namespace mcpc
