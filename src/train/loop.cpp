#include "train/loop.h"

#include "core/log.h"
#include "core/progress.h"

#include <torch/torch.h>

namespace hardy {

namespace {
std::map<std::string, StageTimes>& registry() {
  static std::map<std::string, StageTimes> times;
  return times;
}
}  // namespace

StageTimes& stage_times(const std::string& stage) { return registry()[stage]; }
const std::map<std::string, StageTimes>& all_stage_times() { return registry(); }

void seed_epoch(std::uint64_t seed, std::uint64_t stream, std::int64_t epoch) {
  std::uint64_t mixed = seed * 0x9E3779B97F4A7C15ULL ^ (stream + 1) * 0xBF58476D1CE4E5B9ULL ^
                        static_cast<std::uint64_t>(epoch + 1) * 0x94D049BB133111EBULL;
  torch::manual_seed(mixed >> 1);
}

EpochLog::EpochLog(std::string what, std::int64_t epochs, std::int64_t first_epoch)
    : what_(std::move(what)), epochs_(epochs), first_(first_epoch), start_(Clock::now()),
      last_(start_) {}

void EpochLog::epoch_done(std::int64_t epoch, const std::string& phase, double loss,
                          std::int64_t utterances, const std::string& extra) {
  auto now = Clock::now();
  double epoch_s = std::chrono::duration<double>(now - last_).count();
  double total_s = std::chrono::duration<double>(now - start_).count();
  last_ = now;
  double per_epoch = total_s / static_cast<double>(epoch + 1 - first_);
  double eta = per_epoch * static_cast<double>(epochs_ - epoch - 1);
  log::info("{} | epoch {}/{} ({}) | loss {:.4f} | {:.0f} utt/s | ETA {}{}", what_, epoch + 1,
               epochs_, phase, loss, epoch_s > 0 ? utterances / epoch_s : 0.0,
               Progress::format_duration(eta), extra.empty() ? "" : " | " + extra);
}

}  // namespace hardy
