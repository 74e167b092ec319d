// Small pieces every training loop shares: epoch seeding, per-epoch progress lines.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace hardy {

// Seeds LibTorch's generator (dropout, initialisation) from (seed, stream, epoch), so
// an epoch resumed from a checkpoint draws what the uninterrupted run drew.
void seed_epoch(std::uint64_t seed, std::uint64_t stream, std::int64_t epoch);

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
