// GraphTimeUs: see gpu_timer.h.
#include "gpu_timer.h"

#include <algorithm>

#include "cuda_check.h"

namespace mcpc {
namespace cuda {

StatusOr<float> GraphTimeUs(cudaStream_t stream, int reps, const std::function<Status()>& enqueue) {
  MCPC_RETURN_IF_ERROR(enqueue());
  MCPC_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream), "cudaStreamSynchronize (timing warm-up)");
  MCPC_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture (timing)");
  Status captured = Status::Ok();
  for (int r = 0; r < reps && captured.ok(); ++r) captured = enqueue();
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
  if (!captured.ok() || ended != cudaSuccess) {
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    if (!captured.ok()) return captured;
    return CudaStatus(ended, "cudaStreamEndCapture (timing)", __FILE__, __LINE__);
  }
  cudaGraphExec_t exec = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  float best = -1;
  cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
  if (e == cudaSuccess) e = cudaEventCreate(&start);
  if (e == cudaSuccess) e = cudaEventCreate(&stop);
  if (e == cudaSuccess) e = cudaGraphLaunch(exec, stream);  // warm
  for (int t = 0; t < 3 && e == cudaSuccess; ++t) {
    e = cudaEventRecord(start, stream);
    if (e == cudaSuccess) e = cudaGraphLaunch(exec, stream);
    if (e == cudaSuccess) e = cudaEventRecord(stop, stream);
    if (e == cudaSuccess) e = cudaEventSynchronize(stop);
    float ms = 0;
    if (e == cudaSuccess) e = cudaEventElapsedTime(&ms, start, stop);
    if (e == cudaSuccess) best = best < 0 ? ms : std::min(best, ms);
  }
  if (start) cudaEventDestroy(start);
  if (stop) cudaEventDestroy(stop);
  if (exec) cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  if (e != cudaSuccess) {
    cudaGetLastError();
    cudaStreamSynchronize(stream);
    return CudaStatus(e, "timing a captured graph", __FILE__, __LINE__);
  }
  return 1000.0f * best / static_cast<float>(reps);
}

}  // namespace cuda
}  // namespace mcpc
