#include "train/loop.h"

#include "core/log.h"
#include "core/progress.h"
#include "train/epoch_scores.h"
#include "train/fold_context.h"

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

EpochLog::EpochLog(const FoldContext& ctx, std::string what, std::string stage, std::string condition,
                   std::int64_t epochs, std::int64_t first_epoch)
    : EpochLog(std::move(what), epochs, first_epoch) {
  metrics_ = StageMetrics(ctx.dir + "/metrics/" + stage + ".csv", ctx.writes_files(), first_epoch);
  identity_.fold = ctx.plan.name;
  identity_.stage = std::move(stage);
  identity_.condition = std::move(condition);
}

void EpochLog::print() {
  if (!line_.empty()) log::info("{}", line_);
  line_.clear();
}

void EpochLog::record(const EpochDone& done) {
  auto now = Clock::now();
  double epoch_s = std::chrono::duration<double>(now - last_).count();
  double total_s = std::chrono::duration<double>(now - start_).count();
  last_ = now;
  double per_epoch = total_s / static_cast<double>(done.epoch + 1 - first_);
  double eta = per_epoch * static_cast<double>(epochs_ - done.epoch - 1);
  const double throughput = epoch_s > 0 ? static_cast<double>(done.utterances) / epoch_s : 0.0;
  line_ = !done.log_line ? ""
                         : fmt::format("{} | epoch {}/{} ({}) | loss {:.4f} | {:.0f} utt/s | ETA {}{}", what_,
                                       done.epoch + 1, epochs_, done.phase, done.loss, throughput,
                                       Progress::format_duration(eta), done.extra.empty() ? "" : " | " + done.extra);
  steps_ += done.steps;
  if (!metrics_.active()) return;
  MetricsRow row = identity_;
  row.epoch = done.epoch + 1;
  row.phase = done.phase.substr(0, done.phase.find(','));
  row.steps = steps_;
  row.loss = done.loss;
  row.loss_task = done.terms[0];
  row.loss_reconstruction = done.terms[1];
  row.loss_mi = done.terms[2];
  row.lr = done.lr;
  if (done.scores) row.set_scores(*done.scores);
  row.utterances_per_s = throughput;
  row.elapsed_s = total_s;
  metrics_.append(row);
}

}  // namespace hardy
