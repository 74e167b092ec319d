#include "train/student_stage.h"

#include "core/error.h"
#include "core/log.h"
#include "dist/row_exchange.h"
#include "model/losses.h"
#include "model/metrics.h"
#include "model/student_net.h"
#include "train/data_parallel.h"
#include "train/hardness.h"
#include "train/loop.h"
#include "train/random_streams.h"
#include "train/checkpoint.h"
#include "train/step_checkpoints.h"

#include <fmt/ranges.h>

#include <numeric>
#include <optional>

namespace hardy {

namespace {


// What evaluate() measures on one set.
struct SplitScores {
  double primary = NAN, secondary = NAN;     // (WA, UA) or (Acc, weighted F1)
  double macro_f1 = NAN, weighted_f1 = NAN;  // classification
  std::vector<std::int64_t> confusion;       // classification: [true][predicted]
  std::vector<double> ccc, pearson, mse;     // regression, per target
  std::vector<double> quintile_accuracy;     // classification with test hardness
};

// Regression: every real utterance's predictions and targets, [n, 2K] (all ranks').
SplitScores regression_scores(const FoldContext& ctx, const std::vector<torch::Tensor>& rows) {
  const auto k = static_cast<std::int64_t>(ctx.settings.targets.size());
  auto pairs = rows.empty() ? torch::empty({0, 2 * k}, torch::kFloat64) : torch::cat(rows).to(torch::kFloat64);
  pairs = gather_rows(ctx, pairs);
  if (pairs.size(0) == 0) return {};
  auto m = regression_metrics(pairs.slice(1, 0, k), pairs.slice(1, k, 2 * k));
  SplitScores out;
  out.primary = m.mean_ccc;
  out.secondary = m.mean_pearson;
  out.ccc = m.ccc;
  out.pearson = m.pearson;
  out.mse = m.mse;
  return out;
}

// The scores of `net` on `set` under `keep`.
SplitScores evaluate(StudentNet& net, const FoldContext& ctx,
                                   const PerModality<torch::Tensor>& features,
                                   const SequenceSet& set, const std::vector<bool>& keep,
                                   const torch::Tensor& quintile = torch::Tensor()) {
  const auto& s = ctx.settings;
  net->eval();
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> natural(static_cast<size_t>(set.sequences()));
  std::iota(natural.begin(), natural.end(), std::int64_t{0});
  std::vector<torch::Tensor> predicted, target, bucket;
  for (const auto& ids : make_batches(natural, std::max<std::int64_t>(s.batch_size, 32))) {
    auto layout = batch_layout(set, ids);
    auto batch = gather_batch(features, ctx.corpus.label, layout.rows, layout.rows, layout.real, keep);
    auto logits = net->forward(batch_to(batch, s.device)).joint_logits.cpu();
    auto real = batch.real;
    if (s.regression) {  // [n, K] predictions next to [n, K] targets
      predicted.push_back(torch::cat({logits.index({real}), batch.label.index({real})}, 1));
      continue;
    }
    predicted.push_back(s.sentiment ? logits.select(-1, 0).masked_select(real)
                                    : logits.argmax(-1).masked_select(real));
    target.push_back(batch.label.masked_select(real));
    if (quintile.defined()) bucket.push_back(quintile.index_select(0, ctx.global_ids(layout.rows.masked_select(real))));
  }
  if (s.regression) return regression_scores(ctx, predicted);
  // Sharded: every rank's predictions, so the metrics are those of the whole set.
  // Columns: predicted, target and, with quintiles, the row's hardness quintile.
  const std::int64_t columns = quintile.defined() ? 3 : 2;
  torch::Tensor pairs = torch::empty({0, columns}, torch::kFloat64);
  if (!predicted.empty()) {
    std::vector<torch::Tensor> cols{torch::cat(predicted).to(torch::kFloat64), torch::cat(target).to(torch::kFloat64)};
    if (quintile.defined()) cols.push_back(torch::cat(bucket).to(torch::kFloat64));
    pairs = torch::stack(cols, 1);
  }
  pairs = gather_rows(ctx, pairs);
  if (pairs.size(0) == 0) return {};
  auto p = pairs.select(1, 0).contiguous(), t = pairs.select(1, 1).contiguous();
  if (!s.sentiment) {
    p = p.to(torch::kInt64);
    t = t.to(torch::kInt64);
  } else {
    p = p.to(torch::kFloat32);
    t = t.to(torch::kFloat32);
  }
  if (s.sentiment) {
    auto m = sentiment_metrics(p, t);
    SplitScores out;
    out.primary = m.accuracy;
    out.secondary = m.weighted_f1;
    return out;
  }
  auto m = classification_metrics(p, t, s.classes);
  SplitScores out;
  if (quintile.defined()) {
    const auto q = pairs.select(1, 2).to(torch::kInt64);
    const auto correct = (p == t).to(torch::kFloat64);
    for (std::int64_t k = 0; k < kHardnessQuintiles; ++k) {
      const auto in = q == k;
      const auto n = in.sum().item<std::int64_t>();
      out.quintile_accuracy.push_back(n ? correct.masked_select(in).mean().item<double>() : NAN);
    }
  }
  out.primary = m.wa;
  out.secondary = m.ua;
  out.macro_f1 = m.macro_f1;
  out.weighted_f1 = m.weighted_f1;
  out.confusion = m.confusion;
  return out;
}

EpochScores epoch_scores(std::int64_t epoch, const SplitScores& valid, const SplitScores& test) {
  EpochScores e{epoch, valid.primary, valid.secondary, test.primary, test.secondary};
  e.valid_macro_f1 = valid.macro_f1;
  e.test_macro_f1 = test.macro_f1;
  e.test_weighted_f1 = test.weighted_f1;
  e.test_confusion = test.confusion;
  e.test_quintile_accuracy = test.quintile_accuracy;
  e.test_ccc = test.ccc;
  e.test_pearson = test.pearson;
  e.test_mse = test.mse;
  return e;
}

// Features and labels stage 2 reads, and each row's supports as rows of them.
struct SupportTable {
  PerModality<torch::Tensor> features;
  torch::Tensor labels;
  torch::Tensor support_rows;  // int64 [table rows, K]: rows of `features`, -1 past K_q
};

// One process: supports are rows of the table itself. Sharded: the supports' features
// and labels come from the ranks that hold them (one exchange, before training) and
// are appended to this rank's rows; no rank holds more than its rows and their
// supports.
SupportTable support_table(const FoldContext& ctx, const PerModality<torch::Tensor>& features,
                           const Curriculum& curriculum) {
  SupportTable t{features, ctx.corpus.label,
                 torch::full({ctx.corpus.size(), curriculum.top_k()}, -1, torch::kInt64)};
  if (ctx.holds_everything()) {  // table rows are global ids: no exchange needed
    t.support_rows.index_put_({curriculum.query}, curriculum.support);
    return t;
  }
  RowExchange rows(ctx.comm, ctx.corpus.row);
  auto valid = curriculum.support >= 0;
  auto wanted = std::get<0>(torch::_unique(curriculum.support.masked_select(valid), /*sorted=*/true));
  auto fetched_features = rows.fetch(torch::cat(features, 1), wanted);
  auto fetched_labels = rows.fetch(ctx.corpus.label, wanted);
  std::int64_t column = 0;
  const auto n = ctx.corpus.size();
  for (std::size_t m = 0; m < features.size(); ++m) {
    auto d = features[m].size(1);
    t.features[m] = torch::cat({features[m], fetched_features.slice(1, column, column + d)});
    column += d;
  }
  t.labels = torch::cat({ctx.corpus.label, fetched_labels});
  // Support global id -> its row in the extended table.
  auto at = torch::searchsorted(wanted, curriculum.support.clamp_min(0)) + n;
  auto local_queries = rows.local_positions(curriculum.query);
  t.support_rows.index_put_({local_queries}, torch::where(valid, at, torch::full_like(at, -1)));
  return t;
}

}  // namespace

// Columns of the history tensor: epoch, the four primary/secondary scores, then (since
// macro-F1 was added) valid and test macro-F1, test weighted F1 and the test confusion
// matrix; for regression, instead of the confusion matrix, the test CCC, Pearson r
// and MSE of every target. Histories of five columns, from earlier runs, still load.
constexpr std::int64_t kScoreColumns = 5, kMetricColumns = 8;

torch::Tensor scores_to_tensor(const std::vector<EpochScores>& h) {
  std::size_t confusion = 0;
  for (const auto& e : h)
    confusion = std::max({confusion, e.test_confusion.size(), 3 * e.test_ccc.size()});
  auto t = torch::full({static_cast<std::int64_t>(h.size()), kMetricColumns + static_cast<std::int64_t>(confusion)},
                       NAN, torch::kFloat64);
  auto a = t.accessor<double, 2>();
  for (size_t i = 0; i < h.size(); ++i) {
    a[i][0] = static_cast<double>(h[i].epoch);
    a[i][1] = h[i].valid_primary;
    a[i][2] = h[i].valid_secondary;
    a[i][3] = h[i].test_primary;
    a[i][4] = h[i].test_secondary;
    a[i][5] = h[i].valid_macro_f1;
    a[i][6] = h[i].test_macro_f1;
    a[i][7] = h[i].test_weighted_f1;
    for (std::size_t k = 0; k < h[i].test_confusion.size(); ++k)
      a[i][kMetricColumns + static_cast<std::int64_t>(k)] = static_cast<double>(h[i].test_confusion[k]);
    const auto targets = h[i].test_ccc.size();
    for (std::size_t k = 0; k < targets; ++k) {
      a[i][kMetricColumns + static_cast<std::int64_t>(k)] = h[i].test_ccc[k];
      a[i][kMetricColumns + static_cast<std::int64_t>(targets + k)] = h[i].test_pearson[k];
      a[i][kMetricColumns + static_cast<std::int64_t>(2 * targets + k)] = h[i].test_mse[k];
    }
  }
  return t;
}

std::vector<EpochScores> scores_from_tensor(const torch::Tensor& t, std::int64_t targets) {
  std::vector<EpochScores> h;
  auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();  // host reads below
  HARDY_THROW_IF_NOT_MSG(c.dim() == 2 && (c.size(1) == kScoreColumns || c.size(1) >= kMetricColumns),
                         "an epoch history must be [epochs, {}] or [epochs, {} + confusion], got {}",
                         kScoreColumns, kMetricColumns, c.sizes());
  auto a = c.accessor<double, 2>();
  for (std::int64_t r = 0; r < c.size(0); ++r) {
    EpochScores e{static_cast<std::int64_t>(a[r][0]), a[r][1], a[r][2], a[r][3], a[r][4]};
    if (c.size(1) >= kMetricColumns) {
      e.valid_macro_f1 = a[r][5];
      e.test_macro_f1 = a[r][6];
      e.test_weighted_f1 = a[r][7];
      if (targets > 0 && c.size(1) == kMetricColumns + 3 * targets) {
        for (std::int64_t k = 0; k < targets; ++k) {
          e.test_ccc.push_back(a[r][kMetricColumns + k]);
          e.test_pearson.push_back(a[r][kMetricColumns + targets + k]);
          e.test_mse.push_back(a[r][kMetricColumns + 2 * targets + k]);
        }
      } else if (targets == 0) {
        for (std::int64_t k = kMetricColumns; k < c.size(1); ++k)
          if (!std::isnan(a[r][k])) e.test_confusion.push_back(static_cast<std::int64_t>(a[r][k]));
      }
    }
    h.push_back(e);
  }
  return h;
}

torch::Tensor quintiles_to_tensor(const std::vector<EpochScores>& scores) {
  auto t = torch::full({static_cast<std::int64_t>(scores.size()), kHardnessQuintiles}, NAN, torch::kFloat64);
  auto a = t.accessor<double, 2>();
  for (std::size_t i = 0; i < scores.size(); ++i)
    for (std::size_t k = 0; k < scores[i].test_quintile_accuracy.size() && k < kHardnessQuintiles; ++k)
      a[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(k)] = scores[i].test_quintile_accuracy[k];
  return t;
}

void quintiles_from_tensor(const torch::Tensor& t, std::vector<EpochScores>& scores) {
  auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  HARDY_THROW_IF_NOT_MSG(c.dim() == 2 && c.size(0) == static_cast<std::int64_t>(scores.size()) &&
                             c.size(1) == kHardnessQuintiles,
                         "the accuracy by hardness quintile must be [{}, {}], got {}", scores.size(),
                         kHardnessQuintiles, c.sizes());
  auto a = c.accessor<double, 2>();
  for (std::size_t i = 0; i < scores.size(); ++i) {
    scores[i].test_quintile_accuracy.clear();
    bool any = false;
    for (std::int64_t k = 0; k < kHardnessQuintiles; ++k) any = any || !std::isnan(a[static_cast<std::int64_t>(i)][k]);
    if (any)
      for (std::int64_t k = 0; k < kHardnessQuintiles; ++k)
        scores[i].test_quintile_accuracy.push_back(a[static_cast<std::int64_t>(i)][k]);
  }
}

std::vector<EpochScores> train_student(const FoldContext& ctx,
                                       const PerModality<torch::Tensor>& features,
                                       const std::string& condition, const Curriculum* curriculum,
                                       const std::string& checkpoint, const torch::Tensor& test_quintile) {
  const auto& s = ctx.settings;
  const auto keep = s.model.modalities.parse_condition(condition);
  const std::vector<bool> all(keep.size(), true);  // stage 1: complete modalities
  seed_epoch(s.seed, kStudentStream, -1);
  StudentNet net(s.model);
  net->to(s.device);
  torch::optim::Adam optimizer(net->parameters(),
                               torch::optim::AdamOptions(s.lr).weight_decay(s.weight_decay));
  std::vector<EpochScores> history;
  std::optional<CheckpointState> resumed = load_stage_checkpoint(
      ctx, checkpoint, *net, optimizer, fmt::format("{} | student {}", ctx.plan.name, condition));
  const std::int64_t start = resumed ? resumed->epoch : 0;
  if (resumed) {
    if (resumed->extra.count("history"))
      history = scores_from_tensor(resumed->extra.at("history"), static_cast<std::int64_t>(s.targets.size()));
    if (resumed->extra.count("quintiles")) quintiles_from_tensor(resumed->extra.at("quintiles"), history);
    if (resumed->step == 0 && start > 0 && start < s.student_epochs)
      log::info("{} | student {} | resuming after epoch {}", ctx.plan.name, condition, start);
  }
  require_same_on_all_ranks(ctx, start, "the epoch to resume the student from");
  require_same_on_all_ranks(ctx, resumed ? resumed->step : 0, "the batch to resume the student's epoch from");

  auto& times = stage_times("student");
  DataParallel parallel(ctx, net->parameters(), times);
  // The rows stage 2 reads: this rank's table, then (sharded) the supports other
  // ranks hold. support_rows[row] = the row's supports (-1 past K_q).
  SupportTable table = curriculum ? timed(times.exchange_s, [&] { return support_table(ctx, features, *curriculum); })
                                  : SupportTable{features, ctx.corpus.label, {}};
  const std::int64_t views = curriculum ? curriculum->top_k() + 1 : 1;
  const auto& support_rows = table.support_rows;
  StepCheckpoints steps(ctx, fmt::format("{} | student {}", ctx.plan.name, condition));
  EpochLog log(ctx, fmt::format("{} | student {}", ctx.plan.name, condition), "student_" + condition, condition,
               s.student_epochs, start);
  for (std::int64_t epoch = start; epoch < s.student_epochs; ++epoch) {
    seed_epoch(s.seed, kStudentStream, epoch);
    const std::int64_t skip = epoch == start && resumed ? steps.resume(*resumed, parallel) : 0;
    net->train();
    const bool stage1 = epoch < s.student_stage1_epochs;
    // One global batch: one optimizer step, or one per view (stage 2 without
    // merge_views); a rank holding none of it joins every step.
    auto train_batch = [&](const BatchShare& share) {
      if (share.empty()) {
        if (stage1) {
          ctx.join_task_losses(modality_count(s.model));
          parallel.step(optimizer, {});
        } else if (s.merge_views) {
          ctx.join_task_losses(static_cast<int>(views));
          parallel.step(optimizer, {});
        } else {
          for (std::int64_t j = 0; j < views; ++j) {
            ctx.join_task_losses(1);
            parallel.step(optimizer, {});
          }
        }
        return;
      }
      auto layout = timed(times.data_s, [&] { return batch_layout(ctx.train, share.local); });
      auto real = layout.real.to(s.device);
      if (stage1) {  // pre-training on complete modalities: every modality head
        auto batch = timed(times.data_s, [&] {
          return batch_to(gather_batch(features, ctx.corpus.label, layout.rows, layout.rows, layout.real, all), s.device);
        });
        auto loss = timed(times.compute_s, [&] {
          auto out = net->forward(batch);
          auto l = ctx.task_loss(out.modality_logits[0], batch.label, real, share.share());
          for (std::size_t m = 1; m < out.modality_logits.size(); ++m)
            l = l + ctx.task_loss(out.modality_logits[m], batch.label, real, share.share());
          return l * share.share();
        });
        parallel.step(optimizer, loss, LossTerms{.task = loss.detach()});
        return;
      }
      // Curriculum: view 0 = the batch itself, view j = every utterance's j-th support.
      torch::Tensor merged;
      LossTerms merged_terms;  // for metrics.csv; the loss is computed as it always was
      for (std::int64_t j = 0; j < views; ++j) {
        SequenceBatch truth, view;
        timed(times.data_s, [&] {
          auto rows = j == 0 ? layout.rows : view_rows(layout.rows, layout.real, support_rows, j);
          auto label_rows = s.support_label_own ? rows : layout.rows;
          truth = gather_batch(table.features, table.labels, rows, label_rows, layout.real, all);
          view = batch_to(apply_condition(truth, keep), s.device);
          truth.x = tensors_to(truth.x, s.device);
          return 0;
        });
        LossTerms terms;
        auto loss = timed(times.compute_s, [&] {
          auto out = net->forward(view);
          auto task = ctx.task_loss(out.joint_logits, view.label, real, share.share());
          auto rec = reconstruction_loss(out.reconstruction, truth.x, view.available, real);
          terms.task = task.detach() * share.share();
          terms.reconstruction = rec.detach() * share.share();
          return (task + rec) * share.share();
        });
        if (s.merge_views) {
          merged = merged.defined() ? merged + loss : loss;
          merged_terms.task = merged_terms.task.defined() ? merged_terms.task + terms.task : terms.task;
          merged_terms.reconstruction = merged_terms.reconstruction.defined()
                                            ? merged_terms.reconstruction + terms.reconstruction
                                            : terms.reconstruction;
        } else {
          parallel.step(optimizer, loss, terms);
        }
      }
      if (s.merge_views) {
        const double n = static_cast<double>(views);
        parallel.step(optimizer, merged / n, LossTerms{.task = merged_terms.task / n,
                                                       .reconstruction = merged_terms.reconstruction / n});
      }
    };
    const auto batches = sequence_batches(ctx, s.seed + 7, epoch, s.batch_size);
    for (std::int64_t b = skip; b < static_cast<std::int64_t>(batches.size()); ++b) {
      train_batch(batches[static_cast<std::size_t>(b)]);
      steps.after_batch(epoch, b, parallel, [&](CheckpointState& state) {
        state.extra["history"] = scores_to_tensor(history);
        state.extra["quintiles"] = quintiles_to_tensor(history);
        if (ctx.writes_files()) save_checkpoint(checkpoint, *net, optimizer, state);
      });
    }
    const double loss = parallel.epoch_loss();
    std::string extra;
    if (!stage1 || epoch + 1 == s.student_epochs) {
      history.push_back(epoch_scores(epoch + 1, evaluate(net, ctx, features, ctx.valid, keep),
                                     evaluate(net, ctx, features, ctx.test, keep, test_quintile)));
      const auto& e = history.back();
      extra = fmt::format("valid {:.4f}/{:.4f} test {:.4f}/{:.4f}", e.valid_primary, e.valid_secondary,
                          e.test_primary, e.test_secondary);
    }
    log.record({.epoch = epoch, .phase = stage1 ? "stage 1, complete" : "stage 2, curriculum", .loss = loss,
                .utterances = train_utterances(ctx) * (stage1 ? 1 : views), .steps = parallel.epoch_steps(),
                .lr = s.lr, .scores = extra.empty() ? nullptr : &history.back(), .extra = extra,
                .terms = parallel.epoch_terms()});
    CheckpointState state{epoch + 1, {}};
    state.extra["history"] = scores_to_tensor(history);
    state.extra["quintiles"] = quintiles_to_tensor(history);
    if (ctx.writes_files()) save_checkpoint(checkpoint, *net, optimizer, state);
    steps.saved();
    log.print();
  }
  if (history.empty()) {  // zero epochs configured: evaluate the untrained network
    history.push_back(epoch_scores(0, evaluate(net, ctx, features, ctx.valid, keep),
                                   evaluate(net, ctx, features, ctx.test, keep, test_quintile)));
  }
  return history;
}

}  // namespace hardy
