// Errors in collective code: when one rank fails, every rank must fail the same
// call, or the others go on into a collective the failed rank never joins.
#pragma once

#include "dist/communicator.h"

#include <functional>
#include <string>

namespace hardy {

// Collective: throws on every rank when `error` is set on any. The rank that failed
// gives its reason; the others say that `what` failed elsewhere.
void throw_if_any(Communicator& comm, const std::string& error, const std::string& what);

// Runs `f`, turning any exception it throws (hardy::Error, a LibTorch c10::Error,
// std::bad_alloc, ...) into a message for throw_if_any; empty when `f` succeeded.
std::string error_of(const std::function<void()>& f);

}  // namespace hardy
