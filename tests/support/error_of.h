// The message of the hardy::Error a call throws, for tests that check what a user
// would read (the file named, the fix suggested).
#pragma once

#include "core/error.h"

#include <string>

namespace hardy::testing {

// The message of the hardy::Error thrown by `f`, or "" when none is thrown.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace hardy::testing
