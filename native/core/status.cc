// printf-style formatting for Status messages (MCPC_ERROR), kept out of the header so that every
// kernel does not pull in <cstdarg> and the vsnprintf sizing dance.
#include "status.h"

#include <cstdarg>
#include <vector>

namespace mcpc {

std::string FormatMessage(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out;
  if (n > 0) {
    std::vector<char> buf(static_cast<size_t>(n) + 1);
    std::vsnprintf(buf.data(), buf.size(), fmt, args);
    out.assign(buf.data(), static_cast<size_t>(n));
  }
  va_end(args);
  return out;
}

}  // namespace mcpc
