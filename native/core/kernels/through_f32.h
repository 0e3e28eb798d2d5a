// Runs a kernel written for f32 on narrower element types (f16, bf16, 8- and 16-bit integers,
// bool), whose values f32 holds exactly: the operands of the data type are widened to f32 before
// the inner kernel runs (constant ones once, at Prepare) and its results narrowed back. Used where
// a value type is rare enough that a dedicated kernel is not worth its code (Conv on f16, MaxPool
// on u8, ReduceMax on bool).
#pragma once

#include <memory>

#include "../kernel.h"

namespace mcpc {

/** Whether f32 holds every value of t exactly, so that a kernel may compute t through f32. */
bool WidensToF32(DType t);

/**
 * Prepares `inner` on a copy of the kernel whose slots of dtype `data` are f32, and returns a
 * kernel that converts those operands at run time. Slots of other dtypes (indices, axes) pass
 * through unchanged.
 */
StatusOr<std::unique_ptr<Kernel>> CreateThroughF32(const PrepareContext& ctx, DType data, const KernelFactory& inner);

}  // namespace mcpc
