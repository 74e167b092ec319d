#include "train/hardness_stage.h"

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "model/losses.h"
#include "train/data_parallel.h"
#include "train/hardness.h"
#include "train/loop.h"

#include <algorithm>
#include <map>
#include <numeric>


namespace hardy {
namespace {

// Passes of batched scoring (hardness.per_sequence = false): sequences of one length
// go through the teacher together, up to kPassUtterances utterances at a time, in
// their order within each length. Equal lengths need no padding, so single-turn
// corpora (MSP-Podcast) and dialogues alike run in large passes. (Equal only up to
// float rounding to one pass per sequence: kernels round differently at other batch
// sizes, see docs/distributed-retrieval.md.)
constexpr std::int64_t kPassUtterances = 1024;
// From this many training sequences on, per-sequence scoring says what batching saves.
constexpr std::int64_t kManyPasses = 20000;

std::vector<std::vector<std::int64_t>> equal_length_passes(const SequenceSet& set) {
  std::map<std::int64_t, std::vector<std::int64_t>> by_length;
  for (std::int64_t i = 0; i < set.sequences(); ++i) by_length[set.count[static_cast<size_t>(i)]].push_back(i);
  std::vector<std::vector<std::int64_t>> passes;
  for (const auto& [length, ids] : by_length)
    for (auto& pass : make_batches(ids, std::max<std::int64_t>(1, kPassUtterances / length)))
      passes.push_back(std::move(pass));
  return passes;
}

}  // namespace

HardnessScores score_hardness(const FoldContext& ctx, TeacherNet& teacher,
                              const PerModality<torch::Tensor>& features) {
  return score_hardness(ctx, teacher, features, ctx.train, "hardness");
}

HardnessScores score_hardness(const FoldContext& ctx, TeacherNet& teacher, const PerModality<torch::Tensor>& features,
                              const SequenceSet& set, const std::string& what) {
  const auto& s = ctx.settings;
  teacher->eval();
  torch::NoGradGuard no_grad;
  HardnessScores scores;
  scores.rows = set.rows();
  // Position of each training row in `scores.rows`, to place per-utterance values by
  // row id rather than by their (batch-major) order inside a batch.
  auto position = torch::full({ctx.corpus.size()}, -1, torch::kInt64);
  position.index_put_({scores.rows}, torch::arange(scores.rows.numel(), torch::kInt64));
  const std::vector<bool> all(static_cast<std::size_t>(ctx.settings.model.modalities.size()), true);
  std::vector<std::int64_t> natural(static_cast<size_t>(set.sequences()));
  std::iota(natural.begin(), natural.end(), std::int64_t{0});
  const auto batches = make_batches(natural, s.batch_size);
  // hardness.per_sequence (default): one pass per sequence, so the values do not
  // depend on batching or sharding (identical curricula at any rank count).
  std::vector<std::vector<std::int64_t>> passes;
  if (s.hardness_per_sequence) {
    for (auto id : natural) passes.push_back({id});
    if (set.sequences() >= kManyPasses)
      log::info("{} | hardness: {} one-sequence forward passes per condition (hardness.per_sequence = true); "
                "hardness.per_sequence = false batches sequences of equal length, much faster, with values "
                "equal to these up to float rounding",
                ctx.plan.name, set.sequences());
  } else {
    passes = equal_length_passes(set);
  }
  // Positions in scores.rows of the real utterances of the sequences `ids`.
  auto positions_of = [&](const std::vector<std::int64_t>& ids) {
    auto layout = batch_layout(set, ids);
    return position.index_select(0, layout.rows.masked_select(layout.real));
  };

  for (const auto& name : s.conditions) {
    auto keep = ctx.settings.model.modalities.parse_condition(name);
    auto direct = torch::zeros({scores.rows.numel()});
    auto indirect = torch::zeros({scores.rows.numel()});
    auto unified = torch::zeros({scores.rows.numel()});
    HardnessRange whole;
    // Long at scale: a line every 30 s.
    Progress progress(fmt::format("{} | {} {}", ctx.plan.name, what, name), set.sequences(), "sequences", 30.0);
    std::int64_t done = 0;
    for (const auto& ids : passes) {
      // Raw Hd and Hi of the real utterances of the sequences `ids`.
      auto layout = batch_layout(set, ids);
      auto truth = gather_batch(features, ctx.corpus.label, layout.rows, layout.rows, layout.real, all);
      auto batch = apply_condition(truth, keep);
      auto out = teacher->forward(batch_to(batch, s.device));
      auto real = batch.real.to(s.device);
      auto hd = per_utterance_reconstruction_error(out.reconstruction, tensors_to(truth.x, s.device),
                                                   batch.available.to(s.device), real);
      auto hi = indirect_hardness(out.mi, real);
      auto at = position.index_select(0, layout.rows.masked_select(layout.real));
      auto hd_real = hd.masked_select(real).cpu().to(torch::kFloat32);
      auto hi_real = hi.masked_select(real).cpu().to(torch::kFloat32);
      direct.index_put_({at}, hd_real);
      indirect.index_put_({at}, hi_real);
      whole.include(hd_real, hi_real);
      done += static_cast<std::int64_t>(ids.size());
      progress.update(done);
    }
    progress.finish();
    if (s.batch_normalization) {
      // The authors' scope: min/max of each training batch (batch_size sequences in
      // their natural order, whatever the passes were).
      for (const auto& ids : batches) {
        auto at = positions_of(ids);
        auto hd = direct.index_select(0, at), hi = indirect.index_select(0, at);
        HardnessRange range;
        range.include(hd, hi);
        unified.index_put_({at}, unified_hardness(hd, hi, range, s.hardness));
      }
    } else if (s.rank_normalization) {
      // Rank quantiles over every rank's training scores (one gather per condition).
      unified = rank_unified_hardness(direct, indirect, gather_rows(ctx, direct), gather_rows(ctx, indirect),
                                      s.hardness);
    } else {
      // The dataset's range: one max-allreduce over the ranks' ranges.
      auto t = whole.to_max_tensor();
      ctx.comm->allreduce(t, ReduceOp::Max)->wait();
      whole = HardnessRange::from_max_tensor(t);
      unified = unified_hardness(direct, indirect, whole, s.hardness);
    }
    scores.direct[name] = direct;
    scores.indirect[name] = indirect;
    scores.unified[name] = unified;
  }
  return scores;
}

}  // namespace hardy
