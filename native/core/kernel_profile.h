// Per-kernel profiles (env MCPC_PROFILE), shared by the cpu and cuda sessions: MCPC_PROFILE=1
// prints a summary to stderr when the session goes (per op, then the slowest kernels); any other
// value is a file path that gets a CSV: kernel,op,source,shape,runs,total_us,min_us.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plan.h"

namespace mcpc {

struct KernelProfile {
  bool enabled = false;
  /** Empty: summary to stderr. */
  std::string path;
  uint64_t runs = 0;
  /** Per kernel: microseconds summed over the runs, and the best run (robust on a loaded machine). */
  std::vector<double> totalUs;
  std::vector<double> minUs;
  /** Per kernel: how it ran (a library's algorithm), printed beside it; may be empty. */
  std::vector<std::string> notes;

  /** Reads MCPC_PROFILE; when set, sizes the tables for `kernels` kernels. */
  void Configure(size_t kernels);
  void Add(size_t kernel, double us);
  /** Writes the CSV or the summary (nothing before the first run); `what` names the device. */
  void Report(const Plan& plan, const char* what) const;
};

}  // namespace mcpc
