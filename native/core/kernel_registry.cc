// The process-wide kernel registry. Kernels register from static initializers in any order, so
// the registry is a function-local static (constructed on first use) and Names() sorts.
#include <algorithm>

#include "kernel.h"

namespace mcpc {

KernelRegistry& KernelRegistry::Get() {
  static KernelRegistry registry;
  return registry;
}

void KernelRegistry::Add(const std::string& op, KernelFactory factory) {
  // A second registration of the same op replaces the first rather than being ignored, so that a
  // specialised kernel file can override a generic one; which wins between two static initializers
  // is unspecified, so two files registering one op is a bug the registry test reports.
  for (auto& e : entries_) {
    if (e.first == op) {
      e.second = std::move(factory);
      duplicates_.push_back(op);
      return;
    }
  }
  entries_.emplace_back(op, std::move(factory));
}

const KernelFactory* KernelRegistry::Find(const std::string& op) const {
  for (const auto& e : entries_) {
    if (e.first == op) return &e.second;
  }
  return nullptr;
}

std::vector<std::string> KernelRegistry::Names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const auto& e : entries_) names.push_back(e.first);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace mcpc
