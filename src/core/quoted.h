// A double-quoted string literal that is valid both as a JSON string and as a TOML
// basic string: quotes, backslashes and control characters escaped, other bytes
// (UTF-8 included) unchanged. Used by the config printer and the JSON writers.
#pragma once

#include <string>

namespace hardy {

std::string quoted_string(const std::string& text);

}  // namespace hardy
