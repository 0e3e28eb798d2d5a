// GPU time of work enqueued on a stream, without the host's time to enqueue it: the work is run
// once eagerly (libraries load their kernels lazily, which a capture would refuse), then `reps`
// copies are captured in a CUDA graph whose replays are timed with events (best of three). Used to
// choose among library algorithms at load: cuDNN's own benchmark times each call from the host,
// and at batch 1 the legacy API's per-call host work (tens of microseconds) swamps the kernels.
#pragma once

#include <cuda_runtime_api.h>

#include <functional>

#include "status.h"

namespace mcpc {
namespace cuda {

/** Microseconds of GPU time per call of `enqueue`; an error when it fails or cannot be captured. */
StatusOr<float> GraphTimeUs(cudaStream_t stream, int reps, const std::function<Status()>& enqueue);

}  // namespace cuda
}  // namespace mcpc
