// Logging: spdlog with every line prefixed by the rank; progress only on rank 0.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace hardy::log {

// Installs the default logger. `rank`/`world` label each line ("[r0/4]"); ranks
// other than 0 log warnings and errors only unless `all_ranks` is set.
void init(int rank, int world, const std::string& level = "info", bool all_ranks = false);

// Level names accepted by init(): trace, debug, info, warn, error, off.
bool is_valid_level(const std::string& level);

int rank();
bool is_root();

}  // namespace hardy::log
