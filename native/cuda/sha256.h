// SHA-256 (FIPS 180-4) for the keys and checksums of the on-disk cache of compiled CUDA code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mcpc {
namespace cuda {

class Sha256 {
 public:
  Sha256();
  Sha256& Update(const void* data, size_t length);
  Sha256& Update(const std::string& s) { return Update(s.data(), s.size()); }
  /** The 32-byte digest; the object must not be updated afterwards. */
  void Final(uint8_t out[32]);
  /** Lowercase hex of the digest. */
  std::string HexDigest();

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t bufLen_ = 0;
  uint64_t total_ = 0;
};

inline std::string Sha256Hex(const std::string& s) { return Sha256().Update(s).HexDigest(); }

}  // namespace cuda
}  // namespace mcpc
