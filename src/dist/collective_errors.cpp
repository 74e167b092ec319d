#include "dist/collective_errors.h"

#include "core/error.h"

#include <exception>

namespace hardy {

void throw_if_any(Communicator& comm, const std::string& error, const std::string& what) {
  auto failed = torch::tensor({error.empty() ? 0 : 1}, torch::kInt32);
  comm.allreduce(failed, ReduceOp::Max)->wait();
  if (!error.empty()) HARDY_THROW_MSG("{}", error);
  HARDY_THROW_IF_NOT_MSG(failed.item<int>() == 0, "{}: another rank failed (its log says why)", what);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

}  // namespace hardy
