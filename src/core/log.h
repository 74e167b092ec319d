// Logging: every line prefixed by the rank; progress only on a leader (rank 0, or the
// first rank of each group while units run in groups).
//
// A facade: only log.cpp includes spdlog. Every other file formats with fmt and hands
// the finished line over, so no header puts spdlog (built against Debian's fmt) next
// to LibTorch's headers (which ship a different fmt).
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>

namespace hardy::log {

enum class Level { trace, debug, info, warn, error };

// Installs the default logger. `rank`/`world` label each line ("[r0/4]"); ranks
// other than 0 log warnings and errors only unless `all_ranks` is set.
void init(int rank, int world, const std::string& level = "info", bool all_ranks = false);

// Level names accepted by init(): trace, debug, info, warn, error, off.
bool is_valid_level(const std::string& level);

// While units run in groups (train/unit_plan.h): lines say the group ("[r3/4 g1]")
// and the group's first rank logs at log_level, as rank 0 does. group -1 restores
// the world's labels (rank 0 the only leader).
void set_group(int group, bool leader);

int rank();
bool is_root();
// Whether this rank logs progress and info lines (see set_group).
bool is_leader();

bool enabled(Level level);
void write(Level level, const std::string& line);
// Writes out what is buffered (before the process is ended on purpose).
void flush();

template <typename... Args>
void at(Level level, fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(level)) write(level, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void trace(fmt::format_string<Args...> f, Args&&... a) { at(Level::trace, f, std::forward<Args>(a)...); }
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) { at(Level::debug, f, std::forward<Args>(a)...); }
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... a) { at(Level::info, f, std::forward<Args>(a)...); }
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) { at(Level::warn, f, std::forward<Args>(a)...); }
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... a) { at(Level::error, f, std::forward<Args>(a)...); }

}  // namespace hardy::log
