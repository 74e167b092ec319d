#include "train/run_monitor.h"

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/stop_request.h"
#include "dist/peer_timeout.h"
#include "train/file_io.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace hardy {

namespace fs = std::filesystem;

namespace {

double steady_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The file's content, or "" when it is missing or unreadable (a heartbeat being
// replaced, a status not written yet).
std::string read_if_present(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

nlohmann::json read_json(const std::string& path) {
  const auto text = read_if_present(path);
  if (text.empty()) return nlohmann::json();
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

RunMonitor::RunMonitor(std::string dir, int rank, int world, int group, bool leader, double timeout_s,
                       MonitoredPlan plan)
    : dir_(std::move(dir)), rank_(rank), world_(world), group_(group), leader_(leader), timeout_s_(timeout_s),
      period_s_(std::clamp(timeout_s / 4, 0.25, 5.0)), plan_(std::move(plan)) {
  fs::create_directories(dir_ + "/progress");
  beat();
  if (leader_) write_status();
  watched_changed_s_ = steady_now();
  last_progress_s_ = steady_now();
  thread_ = std::thread([this] { run(); });
}

RunMonitor::~RunMonitor() {
  {
    std::lock_guard<std::mutex> lock(mutex_);  // so the thread cannot miss the wake-up
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string RunMonitor::heartbeat_path(int rank) const { return fmt::format("{}/progress/rank{}.alive", dir_, rank); }
std::string RunMonitor::status_path(int group) const { return fmt::format("{}/progress/group{}.json", dir_, group); }

void RunMonitor::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  double last_beat = steady_now();
  while (!stop_) {
    // Stop requests are relayed within kStopPoll_s; heartbeats go every period_s_.
    wake_.wait_for(lock, std::chrono::duration<double>(std::min(period_s_, kStopPoll_s)),
                   [this] { return stop_.load(); });
    if (stop_) break;
    try {
      relay_stop_request();
      const double now = steady_now();
      if (now - last_beat < period_s_) continue;
      last_beat = now;
      beat();
      watch(now);
      if (rank_ == 0 && now - last_progress_s_ >= kProgressEvery_s) {
        last_progress_s_ = now;
        log::info("{}", progress_line());
      }
    } catch (const std::exception& e) {
      // Nothing may escape a thread (std::terminate, no message): say it, end the job.
      log::error("rank {}: the heartbeat under '{}/progress' failed: {}. Aborting the job; re-run to "
                 "finish the units that did not finish.",
                 rank_, dir_, e.what());
      log::flush();
      std::_Exit(kExitPeerLost);
    }
  }
}

void RunMonitor::relay_stop_request() {
  std::lock_guard<std::mutex> lock(relay_mutex_);  // the thread and the main thread
  if (stop_relayed_) return;
  const auto marker = dir_ + "/progress/stop";
  if (stop_requested()) {
    write_file_atomic(marker, fmt::format("{} on rank {}", stop_reason(), rank_));
    stop_relayed_ = true;
  } else if (auto text = read_if_present(marker); !text.empty()) {
    request_stop(text);
    stop_relayed_ = true;
  }
}

void RunMonitor::beat() { write_file_atomic(heartbeat_path(rank_), fmt::format("{}\n", ++beats_)); }

void RunMonitor::watch(double now_s) {
  if (world_ < 2) return;
  const int watched = (rank_ + 1) % world_;
  const auto beat = read_if_present(heartbeat_path(watched));
  if (!beat.empty() && beat != watched_beat_) {
    watched_beat_ = beat;
    watched_changed_s_ = now_s;
    return;
  }
  const double silent = now_s - watched_changed_s_;
  if (silent <= timeout_s_) return;
  log::error(
      "rank {}: rank {} has shown no sign of life for {:.0f} s (dist.timeout_s): it has died, hung or been "
      "stopped, or its host is unreachable; waited for its heartbeat '{}'. Aborting the job; re-run to "
      "finish the units that did not finish.",
      rank_, watched, silent, heartbeat_path(watched));
  log::flush();
  // Not MPI_Abort: this thread may not call MPI while the main thread does. A rank
  // that exits non-zero makes mpirun (and srun) end the others.
  std::_Exit(kExitPeerLost);
}

void RunMonitor::write_status() const {
  nlohmann::json done = nlohmann::json::array();
  for (const auto& [unit, seconds] : done_) done.push_back({unit, seconds});
  nlohmann::json status = {{"group", group_},   {"current", current_}, {"since", current_since_},
                           {"done", done},      {"finished", finished_}};
  write_file_atomic(status_path(group_), status.dump() + "\n");
}

void RunMonitor::unit_started(std::size_t unit) {
  if (!leader_) return;
  current_ = static_cast<long>(unit);
  current_since_ = wall_now();
  write_status();
}

void RunMonitor::unit_finished(std::size_t unit, double seconds) {
  if (!leader_) return;
  current_ = -1;
  done_.emplace_back(unit, seconds);
  write_status();
}

void RunMonitor::group_finished() {
  if (!leader_) return;
  finished_ = true;
  write_status();
}

void RunMonitor::wait_until(const std::function<bool()>& ready, const std::string& what, bool stoppable) const {
  const double start = steady_now();
  bool said = false;
  while (!ready()) {
    if (stoppable && stop_requested())
      throw StopRequested(fmt::format("stopped on {} while waiting for {}", stop_reason(), what));
    if (!said && steady_now() - start > 1) {
      log::info("waiting for {}", what);
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (said) log::info("{}: ready after {:.0f} s", what, steady_now() - start);
}

bool RunMonitor::all_groups_finished() const {
  for (std::size_t g = 0; g < plan_.per_group.size(); ++g) {
    const auto status = read_json(status_path(static_cast<int>(g)));
    if (!status.is_object() || !status.value("finished", false)) return false;
  }
  return true;
}

std::string RunMonitor::progress_line() const {
  std::size_t total = 0, done = 0;
  double measured = 0, modelled = 0;
  std::vector<nlohmann::json> statuses;
  for (std::size_t g = 0; g < plan_.per_group.size(); ++g) {
    total += plan_.per_group[g].size();
    statuses.push_back(read_json(status_path(static_cast<int>(g))));
    const auto& s = statuses.back();
    if (!s.is_object()) continue;
    for (const auto& d : s.value("done", nlohmann::json::array())) {
      ++done;
      measured += d[1].get<double>();
      modelled += plan_.unit_seconds.at(d[0].get<std::size_t>());
    }
  }
  // The cost model corrected by what the finished units took.
  const double ratio = modelled > 0 ? measured / modelled : 1.0;
  std::string groups;
  double eta = 0;
  for (std::size_t g = 0; g < plan_.per_group.size(); ++g) {
    const auto& s = statuses[g];
    std::vector<std::size_t> finished;
    long current = -1;
    double running_s = 0;
    if (s.is_object()) {
      for (const auto& d : s.value("done", nlohmann::json::array())) finished.push_back(d[0].get<std::size_t>());
      current = s.value("current", -1L);
      running_s = std::max(0.0, wall_now() - s.value("since", wall_now()));
    }
    double left = 0;
    for (auto unit : plan_.per_group[g]) {
      if (std::find(finished.begin(), finished.end(), unit) != finished.end()) continue;
      const double expected = ratio * plan_.unit_seconds[unit];
      left += static_cast<long>(unit) == current ? std::max(0.0, expected - running_s) : expected;
    }
    eta = std::max(eta, left);
    const std::string now =
        current >= 0 ? fmt::format("{} ({})", plan_.unit_names.at(static_cast<std::size_t>(current)),
                                   Progress::format_duration(running_s))
                     : (s.is_object() && s.value("finished", false) ? "finished" : "between units");
    groups += fmt::format(" | g{}: {}", g, now);
  }
  return fmt::format("units {}/{} done{} | ETA {}", done, total, groups, Progress::format_duration(eta));
}

}  // namespace hardy
