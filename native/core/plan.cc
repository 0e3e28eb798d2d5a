// Typed attribute accessors of KernelSpec. The plan keeps ints and floats apart, but kernels ask by
// meaning, so an integer-valued attribute read as a float (and the reverse) is accepted.
#include "plan.h"

namespace mcpc {

int64_t KernelSpec::Int(const std::string& name, int64_t fallback) const {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  const AttrValue& a = it->second;
  if (a.kind == AttrValue::Kind::Int) return a.i;
  if (a.kind == AttrValue::Kind::Float) return static_cast<int64_t>(a.f);
  return fallback;
}

double KernelSpec::Float(const std::string& name, double fallback) const {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  const AttrValue& a = it->second;
  if (a.kind == AttrValue::Kind::Float) return a.f;
  if (a.kind == AttrValue::Kind::Int) return static_cast<double>(a.i);
  return fallback;
}

std::string KernelSpec::String(const std::string& name, const std::string& fallback) const {
  auto it = attrs.find(name);
  return it != attrs.end() && it->second.kind == AttrValue::Kind::String ? it->second.s : fallback;
}

std::vector<int64_t> KernelSpec::Ints(const std::string& name, const std::vector<int64_t>& fallback) const {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  const AttrValue& a = it->second;
  if (a.kind == AttrValue::Kind::Ints) return a.ints;
  if (a.kind == AttrValue::Kind::Int) return {a.i};
  if (a.kind == AttrValue::Kind::Floats || a.kind == AttrValue::Kind::Tensor) {
    std::vector<int64_t> out;
    out.reserve(a.floats.size());
    for (double f : a.floats) out.push_back(static_cast<int64_t>(f));
    return out;
  }
  return fallback;
}

std::vector<double> KernelSpec::Floats(const std::string& name, const std::vector<double>& fallback) const {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  const AttrValue& a = it->second;
  if (a.kind == AttrValue::Kind::Floats || a.kind == AttrValue::Kind::Tensor) return a.floats;
  if (a.kind == AttrValue::Kind::Float) return {a.f};
  if (a.kind == AttrValue::Kind::Ints) return std::vector<double>(a.ints.begin(), a.ints.end());
  return fallback;
}

}  // namespace mcpc
