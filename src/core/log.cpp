#include "core/log.h"

#include "core/error.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace hardy::log {
namespace {
int g_rank = 0;
int g_world = 1;
bool g_leader = true;
bool g_all_ranks = false;
spdlog::level::level_enum g_level = spdlog::level::info;

// Ranks that are not a leader log warnings and errors only, unless all ranks log.
void apply_level() {
  auto lvl = g_level;
  if (!g_leader && !g_all_ranks && lvl < spdlog::level::warn) lvl = spdlog::level::warn;
  spdlog::default_logger_raw()->set_level(lvl);
}
}

bool is_valid_level(const std::string& level) {
  return level == "trace" || level == "debug" || level == "info" || level == "warn" ||
         level == "error" || level == "off";
}

void init(int rank, int world, const std::string& level, bool all_ranks) {
  HARDY_THROW_IF_NOT_MSG(is_valid_level(level),
                         "unknown log level '{}': use trace, debug, info, warn, error or off",
                         level);
  g_rank = rank;
  g_world = world;
  g_leader = rank == 0;
  g_all_ranks = all_ranks;
  g_level = spdlog::level::from_str(level);
  // Progress and info go to stderr so stdout stays machine-readable (inspect --json).
  auto logger = spdlog::stderr_color_mt("hardy");
  logger->set_pattern(fmt::format("[%H:%M:%S] [r{}/{}] [%^%l%$] %v", rank, world));
  spdlog::set_default_logger(logger);
  apply_level();
}

void set_group(int group, bool leader) {
  g_leader = leader;
  spdlog::default_logger_raw()->set_pattern(
      group < 0 ? fmt::format("[%H:%M:%S] [r{}/{}] [%^%l%$] %v", g_rank, g_world)
                : fmt::format("[%H:%M:%S] [r{}/{} g{}] [%^%l%$] %v", g_rank, g_world, group));
  apply_level();
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::trace: return spdlog::level::trace;
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

bool enabled(Level level) { return spdlog::default_logger_raw()->should_log(to_spdlog(level)); }
void write(Level level, const std::string& line) { spdlog::default_logger_raw()->log(to_spdlog(level), line); }
void flush() { spdlog::default_logger_raw()->flush(); }

int rank() { return g_rank; }
bool is_root() { return g_rank == 0; }
bool is_leader() { return g_leader; }

}  // namespace hardy::log
