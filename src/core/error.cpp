#include "core/error.h"

#include <cstring>

namespace hardy::detail {

void throw_error(const std::string& message, const char* condition, const char* file,
                 int line) {
  // Keep only the path below src/ so messages do not leak the build machine's layout.
  const char* shown = std::strstr(file, "src/");
  shown = shown ? shown : file;
  std::string where = condition ? fmt::format(" [check `{}` at {}:{}]", condition, shown, line)
                                : fmt::format(" [at {}:{}]", shown, line);
  throw Error(message + where);
}

}  // namespace hardy::detail
