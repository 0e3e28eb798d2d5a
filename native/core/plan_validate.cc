// ValidatePlan: the executor trusts nothing in an artifact's plan. Every slot id, index, arena
// range and weight range is checked before a kernel is created, so a corrupted or hand-edited plan
// is an MCPC4010 error naming the slot or kernel, never an out-of-bounds access.
#include <limits>

#include "executor.h"

namespace mcpc {

namespace {

Status CheckSlot(const Plan& plan, const WeightsSection& weights, size_t i) {
  const Slot& s = plan.slots[i];
  const char* name = s.name.c_str();
  if (s.id != static_cast<int>(i)) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s) has id %d, expected %zu", i, name, s.id, i);
  // Element count without overflow: every dim is bounded so the product stays below 2^62.
  uint64_t numel = 1;
  for (size_t d = 0; d < s.shape.size(); ++d) {
    int64_t dim = s.shape[d];
    if (dim < 0) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s) shape[%zu] is negative (%lld)", i, name, d, static_cast<long long>(dim));
    if (dim != 0 && numel > (uint64_t{1} << 62) / static_cast<uint64_t>(dim)) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s) has too many elements", i, name);
    }
    numel *= static_cast<uint64_t>(dim);
  }
  uint64_t bytes = ByteLength(s.dtype, numel);  // packed for sub-byte types
  if (bytes != s.byteLength) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s) byteLength is %zu, its %s shape needs %llu", i, name, s.byteLength,
                      DTypeName(s.dtype), static_cast<unsigned long long>(bytes));
  }
  if (s.dynamic != DynamicDims::Static && s.kind != SlotKind::Arena && s.kind != SlotKind::Heap) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s) has dynamic dims, so it must be an arena or heap slot", i, name);
  }
  if ((s.kind == SlotKind::Heap) != (s.dynamic == DynamicDims::Unbounded)) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s): heap slots are exactly the unbounded dynamic ones", i, name);
  }
  switch (s.kind) {
    case SlotKind::Heap:
      if (s.byteLength != 0) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s) is a heap slot with a byteLength", i, name);
      break;
    case SlotKind::Input:
      if (s.index < 0 || static_cast<size_t>(s.index) >= plan.inputSlots.size() || plan.inputSlots[s.index] != s.id) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s) is input %lld, which plan.inputSlots does not map back to it", i, name,
                          static_cast<long long>(s.index));
      }
      break;
    case SlotKind::Output:
      if (s.index < 0 || static_cast<size_t>(s.index) >= plan.outputSlots.size()) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s) is output %lld of %zu", i, name, static_cast<long long>(s.index),
                          plan.outputSlots.size());
      }
      break;
    case SlotKind::Weight: {
      if (s.index < 0 || static_cast<size_t>(s.index) >= weights.entries.size()) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s) is weight %lld of %zu", i, name, static_cast<long long>(s.index),
                          weights.entries.size());
      }
      const WeightRef& w = weights.entries[s.index];
      if (w.byteLength != s.byteLength) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s) needs %zu bytes, weight %lld has %llu", i, name, s.byteLength,
                          static_cast<long long>(s.index), static_cast<unsigned long long>(w.byteLength));
      }
      if (w.offset > weights.length || w.byteLength > weights.length - w.offset) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "weight %lld (%s) at offset %llu + %llu bytes lies outside the %zu-byte weights section",
                          static_cast<long long>(s.index), name, static_cast<unsigned long long>(w.offset),
                          static_cast<unsigned long long>(w.byteLength), weights.length);
      }
      break;
    }
    case SlotKind::Arena: {
      uint64_t off = static_cast<uint64_t>(s.index);
      if (s.index < 0 || off > plan.arenaSize || s.byteLength > plan.arenaSize - off) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s) at arena offset %lld + %zu bytes lies outside the %zu-byte arena", i, name,
                          static_cast<long long>(s.index), s.byteLength, plan.arenaSize);
      }
      if (off % DTypeSize(s.dtype) != 0) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.slots[%zu] (%s) arena offset %lld is not aligned for %s", i, name,
                          static_cast<long long>(s.index), DTypeName(s.dtype));
      }
      break;
    }
  }
  return Status::Ok();
}

/**
 * Operands of fused steps: inputs name a present kernel input, steps an earlier step, the anchor's
 * result only appears in an anchored kernel's epilogue. Whether the ops and dtypes fit is the
 * fused kernel's business at Prepare.
 */
Status CheckSteps(const KernelSpec& spec, size_t k, const std::vector<FusedStep>& steps, const char* list, bool accAllowed) {
  for (size_t j = 0; j < steps.size(); ++j) {
    const FusedStep& st = steps[j];
    for (size_t a = 0; a < st.args.size(); ++a) {
      const FusedOperand& op = st.args[a];
      const char* bad = nullptr;
      switch (op.kind) {
        case FusedOperand::Kind::Acc:
          if (!accAllowed) bad = "reads the anchor's result, which this step list cannot see";
          break;
        case FusedOperand::Kind::Input:
          if (op.index < 0 || static_cast<size_t>(op.index) >= spec.inputs.size()) bad = "names an input the kernel does not have";
          else if (spec.inputs[op.index] < 0) bad = "names an omitted input";
          break;
        case FusedOperand::Kind::Step:
          if (op.index < 0 || static_cast<size_t>(op.index) >= j) bad = "names a step that does not come before it";
          break;
      }
      if (bad) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) %s[%zu].args[%zu] (%s) %s", k, spec.op.c_str(),
                          spec.source.c_str(), list, j, a, st.op.c_str(), bad);
      }
    }
  }
  return Status::Ok();
}

Status CheckFused(const KernelSpec& spec, size_t k) {
  if (!spec.fused()) return Status::Ok();
  const bool elementwise = spec.op == "Elementwise";
  if (spec.outputs.size() != 1) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) is fused and has %zu outputs, expected 1", k, spec.op.c_str(),
                      spec.source.c_str(), spec.outputs.size());
  }
  if (elementwise && (spec.epilogue.empty() || !spec.prologue.empty())) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (Elementwise at node %s) needs epilogue steps and no prologue", k, spec.source.c_str());
  }
  MCPC_RETURN_IF_ERROR(CheckSteps(spec, k, spec.prologue, "prologue", false));
  MCPC_RETURN_IF_ERROR(CheckSteps(spec, k, spec.epilogue, "epilogue", !elementwise));
  if (!spec.prologue.empty() && (spec.inputs.empty() || spec.inputs[0] != -1)) {
    return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) has a prologue, so inputs[0] must be -1", k, spec.op.c_str(),
                      spec.source.c_str());
  }
  return Status::Ok();
}

}  // namespace

Status ValidatePlan(const Plan& plan, const WeightsSection& weights) {
  if (plan.slots.size() > static_cast<size_t>(std::numeric_limits<int>::max())) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "the plan has too many slots");
  for (size_t i = 0; i < plan.slots.size(); ++i) MCPC_RETURN_IF_ERROR(CheckSlot(plan, weights, i));
  const int nslots = static_cast<int>(plan.slots.size());
  for (size_t i = 0; i < plan.inputSlots.size(); ++i) {
    int id = plan.inputSlots[i];
    if (id < 0 || id >= nslots || plan.slots[id].kind != SlotKind::Input || plan.slots[id].index != static_cast<int64_t>(i)) {
      return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.inputSlots[%zu] (%d) is not the slot of input %zu", i, id, i);
    }
  }
  for (size_t i = 0; i < plan.outputSlots.size(); ++i) {
    int id = plan.outputSlots[i];
    if (id < 0 || id >= nslots) return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.outputSlots[%zu] (%d) is not a slot id (%d slots)", i, id, nslots);
  }
  for (size_t k = 0; k < plan.kernels.size(); ++k) {
    const KernelSpec& spec = plan.kernels[k];
    for (size_t j = 0; j < spec.inputs.size(); ++j) {
      int id = spec.inputs[j];
      if (id < -1 || id >= nslots) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) inputs[%zu] is %d, not a slot id", k, spec.op.c_str(),
                          spec.source.c_str(), j, id);
      }
      // Only kernels prepared at run time for their inputs' dims may read a value sized at run time.
      if (id >= 0 && plan.slots[id].dynamic != DynamicDims::Static && spec.shapes != ShapeRule::Broadcast) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) reads slot %d (%s), whose dims are dynamic, without shapes: broadcast", k,
                          spec.op.c_str(), spec.source.c_str(), id, plan.slots[id].name.c_str());
      }
    }
    for (size_t j = 0; j < spec.outputs.size(); ++j) {
      int id = spec.outputs[j];
      if (id < 0 || id >= nslots) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) outputs[%zu] is %d, not a slot id", k, spec.op.c_str(),
                          spec.source.c_str(), j, id);
      }
      SlotKind kind = plan.slots[id].kind;
      if (plan.slots[id].dynamic != DynamicDims::Static && spec.shapes == ShapeRule::Static) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) writes slot %d (%s), whose dims are dynamic, with static shapes", k,
                          spec.op.c_str(), spec.source.c_str(), id, plan.slots[id].name.c_str());
      }
      if (kind != SlotKind::Arena && kind != SlotKind::Output && kind != SlotKind::Heap) {
        return MCPC_ERROR(MCPC_E_INVALID_PLAN, "plan.kernels[%zu] (%s at node %s) writes slot %d (%s), which is an input or a weight", k,
                          spec.op.c_str(), spec.source.c_str(), id, plan.slots[id].name.c_str());
      }
    }
    MCPC_RETURN_IF_ERROR(CheckFused(spec, k));
  }
  return Status::Ok();
}

}  // namespace mcpc
