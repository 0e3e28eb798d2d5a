// Converts the JS side of a load call (the artifact's KernelPlan object and weight table) into the
// core's plain structs, on the main thread. Every malformed field is a TypeError (code MCPC4010)
// naming its path, e.g. "plan.slots[4].shape[1] must be a non-negative integer".
#pragma once

#include <napi.h>

#include "executor.h"
#include "plan.h"

namespace mcpc_binding {

mcpc::Plan PlanFromJs(const Napi::Value& plan, const Napi::Value& arenaSize);
std::vector<mcpc::WeightRef> WeightRefsFromJs(const Napi::Value& weights);

/** A non-negative safe integer (the JS numbers of offsets and sizes) or a TypeError naming `path`. */
int64_t ToIndex(const Napi::Value& v, const std::string& path);

}  // namespace mcpc_binding
