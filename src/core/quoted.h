// A double-quoted TOML basic string: quotes, backslashes and control characters
// escaped, other bytes (UTF-8 included) unchanged. Used by the config printer and in
// config error messages, so a value shows exactly as it would be written in TOML.
// (JSON files are written with nlohmann-json, not with this.)
#pragma once

#include <string>

namespace hardy {

std::string quoted_string(const std::string& text);

}  // namespace hardy
