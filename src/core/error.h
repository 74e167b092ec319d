// One exception type and one macro family for every error hardy_dist raises.
//
// Messages are written for the user: what is wrong, where (file, dataset, row,
// config key), and how to fix it. The failing condition and the source location
// are appended so a bug report carries them too.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace hardy {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
[[noreturn]] void throw_error(const std::string& message, const char* condition,
                              const char* file, int line);
}  // namespace detail

}  // namespace hardy

// HARDY_THROW_MSG("corpus {} has no dataset '{}'", path, name)
#define HARDY_THROW_MSG(...) \
  ::hardy::detail::throw_error(fmt::format(__VA_ARGS__), nullptr, __FILE__, __LINE__)

// HARDY_THROW_IF_NOT_MSG(k > 0, "retrieval.top_k must be positive, got {}", k)
#define HARDY_THROW_IF_NOT_MSG(cond, ...)                                               \
  do {                                                                                  \
    if (!(cond))                                                                        \
      ::hardy::detail::throw_error(fmt::format(__VA_ARGS__), #cond, __FILE__, __LINE__); \
  } while (0)

#define HARDY_THROW_IF_NOT(cond) HARDY_THROW_IF_NOT_MSG(cond, "internal check failed")
