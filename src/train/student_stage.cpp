// §2 curricula and §3 student training with evaluation.
#include "core/error.h"
#include "model/losses.h"
#include "model/metrics.h"
#include "model/student_net.h"
#include "retrieval/sharded_retrieval.h"
#include "train/loop.h"
#include "train/run_dir.h"
#include "train/stages.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <numeric>

namespace hardy {

namespace {

constexpr std::uint64_t kStudentStream = 400;
const std::array<bool, 3> kAll{true, true, true};

// (primary, secondary) = (WA, UA) or (Acc, weighted F1) of `net` on `set` under `keep`.
std::pair<double, double> evaluate(StudentNet& net, const FoldContext& ctx,
                                   const std::array<torch::Tensor, 3>& features,
                                   const SequenceSet& set, const std::array<bool, 3>& keep) {
  const auto& s = ctx.settings;
  net->eval();
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> natural(static_cast<size_t>(set.sequences()));
  std::iota(natural.begin(), natural.end(), std::int64_t{0});
  std::vector<torch::Tensor> predicted, target;
  for (const auto& ids : make_batches(natural, std::max<std::int64_t>(s.batch_size, 32))) {
    auto layout = batch_layout(set, ids);
    auto batch = gather_batch(features, ctx.corpus.label, layout.rows, layout.rows, layout.real, keep);
    auto logits = net->forward(batch_to(batch, s.device)).joint_logits.cpu();
    auto real = batch.real;
    predicted.push_back(s.sentiment ? logits.select(-1, 0).masked_select(real)
                                    : logits.argmax(-1).masked_select(real));
    target.push_back(batch.label.masked_select(real));
  }
  if (predicted.empty()) return {NAN, NAN};
  auto p = torch::cat(predicted), t = torch::cat(target);
  if (s.sentiment) {
    auto m = sentiment_metrics(p, t);
    return {m.accuracy, m.weighted_f1};
  }
  auto m = classification_metrics(p, t, s.classes);
  return {m.wa, m.ua};
}

}  // namespace

torch::Tensor scores_to_tensor(const std::vector<EpochScores>& h) {
  auto t = torch::zeros({static_cast<std::int64_t>(h.size()), 5}, torch::kFloat64);
  auto a = t.accessor<double, 2>();
  for (size_t i = 0; i < h.size(); ++i) {
    a[i][0] = static_cast<double>(h[i].epoch);
    a[i][1] = h[i].valid_primary;
    a[i][2] = h[i].valid_secondary;
    a[i][3] = h[i].test_primary;
    a[i][4] = h[i].test_secondary;
  }
  return t;
}

std::vector<EpochScores> scores_from_tensor(const torch::Tensor& t) {
  std::vector<EpochScores> h;
  auto c = t.to(torch::kFloat64).contiguous();
  auto a = c.accessor<double, 2>();
  for (std::int64_t r = 0; r < c.size(0); ++r)
    h.push_back(EpochScores{static_cast<std::int64_t>(a[r][0]), a[r][1], a[r][2], a[r][3], a[r][4]});
  return h;
}

std::map<std::string, Curriculum> build_curricula(const FoldContext& ctx,
                                                  const std::array<torch::Tensor, 3>& features,
                                                  const HardnessScores& hardness) {
  const auto& s = ctx.settings;
  std::array<torch::Tensor, 3> train_features;
  for (int m = 0; m < 3; ++m) train_features[m] = features[m].index_select(0, hardness.rows);
  auto ids = ctx.global_ids(hardness.rows);
  std::unique_ptr<RetrievalBackend> backend;
  if (ctx.sharded())
    backend = std::make_unique<ShardedRetrieval>(ctx.comm, train_features, ids, s.index);
  else
    backend = std::make_unique<LocalRetrieval>(train_features, ids, s.index);
  std::map<std::string, Curriculum> curricula;
  for (const auto& name : s.conditions) {
    curricula[name] = build_curriculum(*backend, train_features, ids, hardness.unified.at(name),
                                       parse_condition(name), s.curriculum);
    auto histogram = torch::tensor(curriculum_size_histogram(curricula[name]), torch::kInt64);
    if (ctx.sharded()) ctx.comm->allreduce(histogram, ReduceOp::Sum)->wait();
    spdlog::info("{} | curriculum {} | {} queries, K_q histogram [{}]", ctx.plan.name, name,
                 histogram.sum().item<std::int64_t>(),
                 fmt::join(std::vector<std::int64_t>(histogram.data_ptr<std::int64_t>(),
                                                     histogram.data_ptr<std::int64_t>() + histogram.numel()),
                           ", "));
  }
  return curricula;
}

std::vector<EpochScores> train_student(const FoldContext& ctx,
                                       const std::array<torch::Tensor, 3>& features,
                                       const std::string& condition, const Curriculum* curriculum,
                                       const std::string& checkpoint) {
  const auto& s = ctx.settings;
  const auto keep = parse_condition(condition);
  seed_epoch(s.seed, kStudentStream, -1);
  StudentNet net(s.model);
  net->to(s.device);
  torch::optim::Adam optimizer(net->parameters(),
                               torch::optim::AdamOptions(s.lr).weight_decay(s.weight_decay));
  std::vector<EpochScores> history;
  std::int64_t start = 0;
  if (auto state = load_checkpoint(checkpoint, *net, optimizer)) {
    start = state->epoch;
    if (state->extra.count("history")) history = scores_from_tensor(state->extra.at("history"));
    if (start > 0 && start < s.student_epochs)
      spdlog::info("{} | student {} | resuming after epoch {}", ctx.plan.name, condition, start);
  }
  // support_rows[row] = the row's supports (-1 past K_q); rows outside training: -1.
  torch::Tensor support_rows;
  std::int64_t views = 1;
  if (curriculum) {
    views = curriculum->top_k() + 1;
    support_rows = torch::full({ctx.corpus.size(), curriculum->top_k()}, -1, torch::kInt64);
    support_rows.index_put_({curriculum->query}, curriculum->support);
  }
  EpochLog log(fmt::format("{} | student {}", ctx.plan.name, condition), s.student_epochs, start);
  for (std::int64_t epoch = start; epoch < s.student_epochs; ++epoch) {
    seed_epoch(s.seed, kStudentStream, epoch);
    net->train();
    const bool stage1 = epoch < s.student_stage1_epochs;
    double total = 0;
    std::int64_t steps = 0;
    auto step = [&](const torch::Tensor& loss) {
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      total += loss.item<double>();
      ++steps;
    };
    for (const auto& ids : make_batches(epoch_order(ctx.train.sequences(), s.seed + 7, epoch), s.batch_size)) {
      auto layout = batch_layout(ctx.train, ids);
      auto real = layout.real.to(s.device);
      if (stage1) {  // pre-training on complete modalities: every modality head
        auto batch = gather_batch(features, ctx.corpus.label, layout.rows, layout.rows, layout.real, kAll);
        auto out = net->forward(batch_to(batch, s.device));
        auto label = batch.label.to(s.device);
        auto loss = task_loss(out.modality_logits[0], label, real, s.sentiment);
        for (int m = 1; m < 3; ++m) loss = loss + task_loss(out.modality_logits[m], label, real, s.sentiment);
        step(loss);
        continue;
      }
      // Curriculum: view 0 = the batch itself, view j = every utterance's j-th support.
      torch::Tensor merged;
      for (std::int64_t j = 0; j < views; ++j) {
        auto rows = j == 0 ? layout.rows : view_rows(layout.rows, layout.real, support_rows, j);
        auto label_rows = s.support_label_own ? rows : layout.rows;
        auto truth = gather_batch(features, ctx.corpus.label, rows, label_rows, layout.real, kAll);
        auto view = apply_condition(truth, keep);
        auto out = net->forward(batch_to(view, s.device));
        auto loss = task_loss(out.joint_logits, view.label.to(s.device), real, s.sentiment) +
                    reconstruction_loss(out.reconstruction, tensors_to(truth.x, s.device),
                                        view.available.to(s.device), real);
        if (s.merge_views)
          merged = merged.defined() ? merged + loss : loss;
        else
          step(loss);
      }
      if (s.merge_views) step(merged / static_cast<double>(views));
    }
    std::string extra;
    if (!stage1 || epoch + 1 == s.student_epochs) {
      auto [vp, vs] = evaluate(net, ctx, features, ctx.valid, keep);
      auto [tp, ts] = evaluate(net, ctx, features, ctx.test, keep);
      history.push_back(EpochScores{epoch + 1, vp, vs, tp, ts});
      extra = fmt::format("valid {:.4f}/{:.4f} test {:.4f}/{:.4f}", vp, vs, tp, ts);
    }
    CheckpointState state{epoch + 1, {}};
    state.extra["history"] = scores_to_tensor(history);
    save_checkpoint(checkpoint, *net, optimizer, state);
    log.epoch_done(epoch, stage1 ? "stage 1, complete" : "stage 2, curriculum",
                   total / std::max<std::int64_t>(steps, 1),
                   ctx.train.utterances() * (stage1 ? 1 : views), extra);
  }
  if (history.empty()) {  // zero epochs configured: evaluate the untrained network
    auto [vp, vs] = evaluate(net, ctx, features, ctx.valid, keep);
    auto [tp, ts] = evaluate(net, ctx, features, ctx.test, keep);
    history.push_back(EpochScores{0, vp, vs, tp, ts});
  }
  return history;
}

}  // namespace hardy
