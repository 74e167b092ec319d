// Small pieces every training loop shares: epoch seeding, per-epoch progress lines.
#pragma once

#include "train/metrics_log.h"

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>

namespace hardy {

// Seeds LibTorch's generator (dropout, initialisation) from (seed, stream, epoch), so
// an epoch resumed from a checkpoint draws what the uninterrupted run drew.
void seed_epoch(std::uint64_t seed, std::uint64_t stream, std::int64_t epoch);

// Where one stage's time went, per step and in total (bench/README.md's split).
struct StageTimes {
  double data_s = 0;       // batch assembly: layout, gather, copies to the device
  double compute_s = 0;    // forward, backward, optimizer step
  double grad_sync_s = 0;  // waiting for the gradient allreduce (after overlap)
  double exchange_s = 0;   // retrieval and feature exchange between ranks
  std::int64_t steps = 0;  // optimizer steps
};

// This process's times by stage name ("features", "teacher", "hardness",
// "curriculum", "student"), summed over folds and conditions.
StageTimes& stage_times(const std::string& stage);
const std::map<std::string, StageTimes>& all_stage_times();

// Adds the seconds `f` takes to `seconds` and returns what f returns.
template <typename F>
auto timed(double& seconds, F&& f) {
  struct Add {
    double& to;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    ~Add() { to += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
  } add{seconds};
  return f();
}

struct FoldContext;
struct EpochScores;

// One finished epoch, as a stage reports it.
struct EpochDone {
  std::int64_t epoch = 0;  // 0-based
  std::string phase{};     // "stage 1, complete"; the metrics row keeps "stage 1"
  double loss = 0;
  std::int64_t utterances = 0;  // trained on in the epoch (all ranks)
  std::int64_t steps = 0;       // optimizer steps in the epoch
  double lr = NAN;
  const EpochScores* scores = nullptr;  // when the epoch was evaluated
  std::string extra{};                  // appended to the log line
  bool log_line = true;                 // false: the metrics row only
  // Means over the epoch's steps of the task, reconstruction and MI terms (NaN: none).
  std::array<double, 3> terms{NAN, NAN, NAN};
};

// "fold 0 | teacher | epoch 3/12 (stage 1) | loss 1.2345 | 850 utt/s | ETA 20s", rank 0,
// and with a stage's metrics file (train/metrics_log.h) one row per epoch.
class EpochLog {
 public:
  EpochLog(std::string what, std::int64_t epochs, std::int64_t first_epoch);
  // `stage` names the metrics file (<fold dir>/metrics/<stage>.csv); resumed after
  // `first_epoch` epochs.
  EpochLog(const FoldContext& ctx, std::string what, std::string stage, std::string condition,
           std::int64_t epochs, std::int64_t first_epoch);
  // Call before the epoch's checkpoint is saved (metrics_log.h: no gap on resume):
  // appends the metrics row and prepares the log line.
  void record(const EpochDone& done);
  // Call after the checkpoint is saved: logs the line, so a line always means the
  // epoch is safe.
  void print();

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_;
  std::int64_t epochs_, first_;
  Clock::time_point start_, last_;
  StageMetrics metrics_;
  MetricsRow identity_;
  std::int64_t steps_ = 0;
  std::string line_;
};

}  // namespace hardy
