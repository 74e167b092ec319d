// Stable content hashes that key artifacts on disk (stage manifests, corpus keys).
#pragma once

#include <string>

namespace hardy {

// 64-bit FNV-1a hash of `text` as 16 lower-case hex chars. Stable across builds and
// machines (unlike std::hash), so a manifest written by one run matches the next.
std::string fingerprint(const std::string& text);

}  // namespace hardy
