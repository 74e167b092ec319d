#include "core/fingerprint.h"

#include <fmt/format.h>

#include <cstdint>

namespace hardy {

std::string fingerprint(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64-bit offset basis
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;  // FNV-1a 64-bit prime
  }
  return fmt::format("{:016x}", h);
}

}  // namespace hardy
