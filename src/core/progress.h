// Progress lines for long work: done/total, percentage, rate and ETA, at most
// one line per `interval_s` seconds, on rank 0 only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace hardy {

class Progress {
 public:
  Progress(std::string what, std::int64_t total, std::string unit = "items",
           double interval_s = 2.0);
  // Records that `done` units (cumulative) are finished; logs if the interval passed.
  void update(std::int64_t done);
  // Logs the final line (total, elapsed, mean rate).
  void finish();

  static std::string format_duration(double seconds);

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_;
  std::int64_t total_;
  std::string unit_;
  double interval_s_;
  Clock::time_point start_;
  Clock::time_point last_;
  std::int64_t done_ = 0;
  bool finished_ = false;
};

}  // namespace hardy
