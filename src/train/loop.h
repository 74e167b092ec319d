// Small pieces every training loop shares: epoch seeding, per-epoch progress lines.
#pragma once

#include <chrono>
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

// "fold 0 | teacher | epoch 3/12 (stage 1) | loss 1.2345 | 850 utt/s | ETA 20s", rank 0.
class EpochLog {
 public:
  EpochLog(std::string what, std::int64_t epochs, std::int64_t first_epoch);
  void epoch_done(std::int64_t epoch, const std::string& phase, double loss,
                  std::int64_t utterances, const std::string& extra = "");

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_;
  std::int64_t epochs_, first_;
  Clock::time_point start_, last_;
};

}  // namespace hardy
