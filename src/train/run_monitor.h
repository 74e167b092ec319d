// Liveness and progress while units run in groups (train/unit_plan.h).
//
// Inside a group, a lost peer is caught by the group's collectives (dist.timeout_s).
// Between groups there are no collectives: a group of one rank that is stopped or
// hung would go unnoticed, and a group waiting for another's prepare unit, or for
// every group to finish, could wait forever. So every rank keeps a heartbeat file
// under <output.dir>/progress/ (a counter rewritten every dist.timeout_s / 4, at most 5 s, by a
// thread of its own), and watches the next rank's (a ring: every rank is watched).
// A heartbeat unchanged for dist.timeout_s of the watcher's clock ends the job with
// kExitPeerLost and a message naming the rank, as a collective time-out does. The
// files are compared by content, never by time stamps, so hosts need no common clock.
// The heartbeat is this thread's, so it catches a rank that died, was stopped or lost
// its host; a rank whose main thread hangs while the process lives is caught by its
// group's collectives when the group has other ranks, not by the heartbeat.
//
// Progress: each group's first rank writes progress/group<g>.json (the unit it runs,
// the units it finished with their seconds); rank 0 reads them every
// kProgressEvery_s and logs units done / total, every group's current unit and an ETA
// from the cost model, corrected by the measured/modelled ratio so far.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hardy {

struct MonitoredPlan {
  std::vector<std::string> unit_names;              // per unit
  std::vector<double> unit_seconds;                 // modelled, on the group planned for it
  std::vector<std::vector<std::size_t>> per_group;  // the schedule
};

class RunMonitor {
 public:
  static constexpr double kProgressEvery_s = 30;
  static constexpr double kStopPoll_s = 0.5;

  // Starts the heartbeat (and, on rank 0, the progress report). `dir` is output.dir.
  RunMonitor(std::string dir, int rank, int world, int group, bool leader, double timeout_s,
             MonitoredPlan plan);
  ~RunMonitor();  // stops the thread
  RunMonitor(const RunMonitor&) = delete;
  RunMonitor& operator=(const RunMonitor&) = delete;

  // The group's first rank reports its unit (the others may call; they write nothing).
  void unit_started(std::size_t unit);
  void unit_finished(std::size_t unit, double seconds);
  void group_finished();

  // Every rank: returns once `ready()` is true, polling it; `what` is for the log.
  // A dead, stopped or unreachable rank meanwhile ends the job (the heartbeat thread).
  // A stop request (core/stop_request.h) throws StopRequested unless !stoppable.
  void wait_until(const std::function<bool()>& ready, const std::string& what, bool stoppable = true) const;
  // True when every group's status says finished.
  bool all_groups_finished() const;

  // A stop request crosses groups through progress/stop: a rank that was signalled
  // writes it (its thread within kStopPoll_s, or its main thread when its group
  // stops); every other rank's thread reads it and requests the stop.
  void relay_stop_request();

  // The units done, from every group's status file (rank 0 logs this).
  std::string progress_line() const;

 private:
  void run();
  void beat();
  void watch(double now_s);
  void write_status() const;
  std::string heartbeat_path(int rank) const;
  std::string status_path(int group) const;

  std::string dir_;
  int rank_, world_, group_;
  bool leader_;
  double timeout_s_, period_s_;
  MonitoredPlan plan_;
  // This group's status (leader only).
  long current_ = -1;
  double current_since_ = 0;
  std::vector<std::pair<std::size_t, double>> done_;
  bool finished_ = false;
  // The watched rank's heartbeat: its last content and when it last changed.
  std::string watched_beat_;
  double watched_changed_s_ = 0;
  std::uint64_t beats_ = 0;
  double last_progress_s_ = 0;
  std::mutex relay_mutex_;
  bool stop_relayed_ = false;

  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace hardy
