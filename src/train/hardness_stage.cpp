#include "train/hardness_stage.h"

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "model/losses.h"
#include "train/data_parallel.h"
#include "train/hardness.h"
#include "train/loop.h"


namespace hardy {

HardnessScores score_hardness(const FoldContext& ctx, TeacherNet& teacher,
                              const PerModality<torch::Tensor>& features) {
  const auto& s = ctx.settings;
  teacher->eval();
  torch::NoGradGuard no_grad;
  HardnessScores scores;
  scores.rows = ctx.train.rows();
  // Position of each training row in `scores.rows`, to place per-utterance values by
  // row id rather than by their (batch-major) order inside a batch.
  auto position = torch::full({ctx.corpus.size()}, -1, torch::kInt64);
  position.index_put_({scores.rows}, torch::arange(scores.rows.numel(), torch::kInt64));
  const std::vector<bool> all(static_cast<std::size_t>(ctx.settings.model.modalities.size()), true);
  std::vector<std::int64_t> natural(static_cast<size_t>(ctx.train.sequences()));
  std::iota(natural.begin(), natural.end(), std::int64_t{0});

  for (const auto& name : s.conditions) {
    auto keep = ctx.settings.model.modalities.parse_condition(name);
    auto direct = torch::zeros({scores.rows.numel()});
    auto indirect = torch::zeros({scores.rows.numel()});
    auto unified = torch::zeros({scores.rows.numel()});
    HardnessRange whole;
    // Raw Hd and Hi of the real utterances of the sequences `ids`, and their
    // positions in scores.rows.
    auto score = [&](const std::vector<std::int64_t>& ids) {
      auto layout = batch_layout(ctx.train, ids);
      auto truth = gather_batch(features, ctx.corpus.label, layout.rows, layout.rows, layout.real, all);
      auto batch = apply_condition(truth, keep);
      auto out = teacher->forward(batch_to(batch, s.device));
      auto real = batch.real.to(s.device);
      auto hd = per_utterance_reconstruction_error(out.reconstruction, tensors_to(truth.x, s.device),
                                                   batch.available.to(s.device), real);
      auto hi = indirect_hardness(out.mi, real);
      return std::make_tuple(position.index_select(0, layout.rows.masked_select(layout.real)),
                             hd.masked_select(real).cpu().to(torch::kFloat32),
                             hi.masked_select(real).cpu().to(torch::kFloat32));
    };
    // Long at scale (one forward pass per sequence by default): a line every 30 s.
    Progress progress(fmt::format("{} | hardness {}", ctx.plan.name, name), ctx.train.sequences(), "sequences", 30.0);
    std::int64_t done = 0;
    for (const auto& ids : make_batches(natural, s.batch_size)) {
      progress.update(done);  // sequences finished before this batch
      done += static_cast<std::int64_t>(ids.size());
      torch::Tensor at, hd_real, hi_real;
      if (s.hardness_per_sequence) {  // one forward pass per sequence: batching-independent
        std::vector<torch::Tensor> a, d, i;
        for (auto id : ids) {
          auto [pa, pd, pi] = score({id});
          a.push_back(pa);
          d.push_back(pd);
          i.push_back(pi);
        }
        at = torch::cat(a);
        hd_real = torch::cat(d);
        hi_real = torch::cat(i);
      } else {
        std::tie(at, hd_real, hi_real) = score(ids);
      }
      direct.index_put_({at}, hd_real);
      indirect.index_put_({at}, hi_real);
      if (s.batch_normalization) {  // the authors' scope: min/max of this batch
        HardnessRange range;
        range.include(hd_real, hi_real);
        unified.index_put_({at}, unified_hardness(hd_real, hi_real, range, s.hardness));
      }
      whole.include(hd_real, hi_real);
    }
    progress.finish();
    if (!s.batch_normalization) {
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
