#include "core/progress.h"

#include "core/log.h"

#include <cmath>

namespace hardy {

Progress::Progress(std::string what, std::int64_t total, std::string unit, double interval_s)
    : what_(std::move(what)),
      total_(total),
      unit_(std::move(unit)),
      interval_s_(interval_s),
      start_(Clock::now()),
      last_(start_) {}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<long long>(std::llround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

void Progress::update(std::int64_t done) {
  done_ = done;
  auto now = Clock::now();
  if (std::chrono::duration<double>(now - last_).count() < interval_s_) return;
  last_ = now;
  if (!log::is_leader()) return;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? done / elapsed : 0.0;
  double eta = rate > 0 ? (total_ - done) / rate : NAN;
  double pct = total_ > 0 ? 100.0 * done / total_ : 100.0;
  log::info("{}: {}/{} {} ({:.1f}%), {:.0f} {}/s, ETA {}", what_, done, total_, unit_, pct,
               rate, unit_, format_duration(eta));
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (!log::is_leader()) return;
  double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  log::info("{}: done, {} {} in {} ({:.0f} {}/s)", what_, done_, unit_,
               format_duration(elapsed), rate, unit_);
}

}  // namespace hardy
