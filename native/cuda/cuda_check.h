// Status from CUDA, cuBLASLt, cuDNN and NVRTC results: one macro per library records the call, the
// library's own error name and string, the file and line. Out-of-memory results get MCPC5102, a
// missing driver or device MCPC5006, anything else MCPC5101.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <nvrtc.h>
#if MCPC_WITH_CUDNN
#include <cudnn.h>
#endif

#include <string>

#include "status.h"

namespace mcpc {
namespace cuda {

Status CudaStatus(cudaError_t e, const std::string& what, const char* file, int line);
Status CublasStatus(cublasStatus_t s, const std::string& what, const char* file, int line);
Status NvrtcStatus(nvrtcResult r, const std::string& what, const char* file, int line);
#if MCPC_WITH_CUDNN
Status CudnnStatus(cudnnStatus_t s, const std::string& what, const char* file, int line);
#endif

/** Errors after which the CUDA context is unusable for the rest of the process. */
bool IsStickyError(cudaError_t e);
/** No driver, a driver too old for this runtime, or no device. */
bool IsNoDeviceError(cudaError_t e);

}  // namespace cuda
}  // namespace mcpc

#define MCPC_CUDA_RETURN_IF_ERROR(expr, what)                                                           \
  do {                                                                                                  \
    const cudaError_t _mcpc_e = (expr);                                                                 \
    if (_mcpc_e != cudaSuccess) return ::mcpc::cuda::CudaStatus(_mcpc_e, (what), __FILE__, __LINE__);   \
  } while (0)

#define MCPC_CUBLAS_RETURN_IF_ERROR(expr, what)                                                                    \
  do {                                                                                                             \
    const cublasStatus_t _mcpc_s = (expr);                                                                         \
    if (_mcpc_s != CUBLAS_STATUS_SUCCESS) return ::mcpc::cuda::CublasStatus(_mcpc_s, (what), __FILE__, __LINE__);  \
  } while (0)

#define MCPC_NVRTC_RETURN_IF_ERROR(expr, what)                                                                  \
  do {                                                                                                          \
    const nvrtcResult _mcpc_r = (expr);                                                                         \
    if (_mcpc_r != NVRTC_SUCCESS) return ::mcpc::cuda::NvrtcStatus(_mcpc_r, (what), __FILE__, __LINE__);        \
  } while (0)

#if MCPC_WITH_CUDNN
#define MCPC_CUDNN_RETURN_IF_ERROR(expr, what)                                                                  \
  do {                                                                                                          \
    const cudnnStatus_t _mcpc_d = (expr);                                                                       \
    if (_mcpc_d != CUDNN_STATUS_SUCCESS) return ::mcpc::cuda::CudnnStatus(_mcpc_d, (what), __FILE__, __LINE__); \
  } while (0)
#endif
