// The names in a directory, for tests that check no temp file is left behind.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace hardy::testing {

// File names (not paths) in `dir`, in directory order.
inline std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  return names;
}

}  // namespace hardy::testing
