// KernelProfile: see kernel_profile.h.
#include "kernel_profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

namespace mcpc {

namespace {

std::string ShapeOf(const Plan& plan, const KernelSpec& spec) {
  std::string shape;
  if (!spec.outputs.empty()) {
    for (int64_t d : plan.slots[spec.outputs[0]].shape) shape += (shape.empty() ? "" : "x") + std::to_string(d);
  }
  return shape;
}

}  // namespace

void KernelProfile::Configure(size_t kernels) {
  const char* prof = std::getenv("MCPC_PROFILE");
  if (!prof || !*prof || std::strcmp(prof, "0") == 0) return;
  enabled = true;
  path = std::strcmp(prof, "1") == 0 ? "" : prof;
  totalUs.assign(kernels, 0.0);
  minUs.assign(kernels, 1e30);
}

void KernelProfile::Add(size_t kernel, double us) {
  totalUs[kernel] += us;
  minUs[kernel] = std::min(minUs[kernel], us);
}

void KernelProfile::Report(const Plan& plan, const char* what) const {
  if (!enabled || runs == 0) return;
  const size_t n = std::min(totalUs.size(), plan.kernels.size());
  const double perRun = static_cast<double>(runs);
  if (!path.empty()) {
    if (FILE* f = std::fopen(path.c_str(), "w")) {
      std::fprintf(f, "kernel,op,source,shape,runs,total_us,min_us,note\n");
      for (size_t k = 0; k < n; ++k) {
        const KernelSpec& spec = plan.kernels[k];
        std::fprintf(f, "%zu,%s,%s,%s,%llu,%.1f,%.1f,%s\n", k, spec.op.c_str(), spec.source.c_str(), ShapeOf(plan, spec).c_str(),
                     static_cast<unsigned long long>(runs), totalUs[k], minUs[k], k < notes.size() ? notes[k].c_str() : "");
      }
      std::fclose(f);
    }
    return;
  }
  // Per op: mean us per run, and the sum of each kernel's best run (what an unloaded machine gives).
  double total = 0, totalMin = 0;
  struct OpTotal {
    double us = 0, minUs = 0;
    int kernels = 0;
  };
  std::map<std::string, OpTotal> byOp;
  for (size_t k = 0; k < n; ++k) {
    total += totalUs[k];
    totalMin += minUs[k];
    OpTotal& e = byOp[plan.kernels[k].op];
    e.us += totalUs[k];
    e.minUs += minUs[k];
    e.kernels += 1;
  }
  std::fprintf(stderr, "mcpc profile (%s): %llu runs, kernels %.1f us per run (mean), %.1f us (sum of per-kernel best)\n", what,
               static_cast<unsigned long long>(runs), total / perRun, totalMin);
  std::vector<std::pair<double, std::string>> ops;
  for (auto& [op, e] : byOp) ops.push_back({e.minUs, op});
  std::sort(ops.rbegin(), ops.rend());
  for (auto& [us, op] : ops) {
    const OpTotal& e = byOp[op];
    std::fprintf(stderr, "  %-24s %5d kernels  best %9.1f us %5.1f%%  mean %9.1f us/run\n", op.c_str(), e.kernels, e.minUs, 100 * e.minUs / totalMin,
                 e.us / perRun);
  }
  std::vector<size_t> order(n);
  for (size_t k = 0; k < n; ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return minUs[a] > minUs[b]; });
  std::fprintf(stderr, "  top kernels:\n");
  for (size_t i = 0; i < std::min<size_t>(n, 25); ++i) {
    const size_t k = order[i];
    const KernelSpec& spec = plan.kernels[k];
    std::fprintf(stderr, "  #%-4zu %-12s %-48s %-16s best %8.1f us  mean %8.1f us  %s\n", k, spec.op.c_str(), spec.source.c_str(),
                 ShapeOf(plan, spec).c_str(), minUs[k], totalUs[k] / perRun, k < notes.size() ? notes[k].c_str() : "");
  }
}

}  // namespace mcpc
