#include "train/feature_stage.h"

#include "core/error.h"
#include "core/log.h"
#include "core/modality.h"
#include "train/data_parallel.h"
#include "train/loop.h"
#include "train/random_streams.h"


namespace hardy {

namespace {

constexpr std::int64_t kFeatureBatch = 256;  // utterances per feature-net step

torch::Tensor normalise_rows(const torch::Tensor& x) {
  return torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().dim(1));
}

// Utterance-level task loss for [N, outputs] predictions (this rank's `share` of the
// global batch).
torch::Tensor utterance_loss(const FoldContext& ctx, const torch::Tensor& logits, const torch::Tensor& label,
                             double share) {
  if (ctx.settings.regression) {  // utterances as sequences of length 1
    auto real = torch::ones({logits.size(0), 1}, torch::TensorOptions().dtype(torch::kBool).device(logits.device()));
    return ctx.task_loss(logits.unsqueeze(1), label.unsqueeze(1), real, share);
  }
  if (ctx.settings.sentiment) return torch::mse_loss(logits.squeeze(-1), label);
  const auto& class_weights = ctx.class_weights;
  if (!class_weights.defined()) return torch::nn::functional::cross_entropy(logits, label);
  // Weighted terms, plain mean (as masked_cross_entropy): batch shares still add up.
  namespace F = torch::nn::functional;
  auto terms = F::cross_entropy(logits, label, F::CrossEntropyFuncOptions().reduction(torch::kNone));
  return (terms * class_weights.to(terms.device()).index_select(0, label)).mean();
}

FeatureNet train_feature_net(const FoldContext& ctx, int m) {
  const auto& s = ctx.settings;
  const auto& raw = ctx.corpus.features[static_cast<std::size_t>(m)];
  auto& times = stage_times("features");
  seed_epoch(s.seed, kFeatureStream + m, -1);
  FeatureNet net(raw.size(1), s.model.outputs);
  net->to(s.device);
  torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(s.finetune_lr));
  DataParallel parallel(ctx, net->parameters(), times);
  auto rows = ctx.train.rows();
  auto x = raw.index_select(0, rows).to(s.device);
  auto y = ctx.corpus.label.index_select(0, rows).to(s.device);
  EpochLog log(ctx, fmt::format("{} | features ({})", ctx.plan.name, s.model.modalities.name(m)),
               "features_" + s.model.modalities.name(m), "", s.finetune_epochs, 0);
  for (std::int64_t epoch = 0; epoch < s.finetune_epochs; ++epoch) {
    seed_epoch(s.seed, kFeatureStream + m, epoch);
    net->train();
    for (const auto& batch : utterance_batches(ctx, s.seed + m, epoch, kFeatureBatch)) {
      torch::Tensor loss;
      if (!batch.empty()) {
        auto idx = timed(times.data_s, [&] { return torch::tensor(batch.local, torch::kInt64).to(s.device); });
        loss = timed(times.compute_s, [&] {
          return utterance_loss(ctx, net->forward(x.index_select(0, idx)).logits, y.index_select(0, idx),
                                batch.share()) * batch.share();
        });
      } else {
        ctx.join_task_losses(1);
      }
      parallel.step(optimizer, loss, LossTerms{.task = loss.defined() ? loss.detach() : torch::Tensor()});
    }
    EpochDone done{.epoch = epoch, .phase = "fine-tune", .loss = parallel.epoch_loss(),
                   .utterances = train_utterances(ctx), .steps = parallel.epoch_steps(), .lr = s.finetune_lr,
                   .terms = parallel.epoch_terms()};
    done.log_line = epoch + 1 == s.finetune_epochs || (epoch + 1) % 10 == 0;
    log.record(done);
    log.print();
  }
  return net;
}

}  // namespace

PerModality<FeatureNet> train_feature_nets(const FoldContext& ctx) {
  PerModality<FeatureNet> nets;
  for (int m = 0; m < modality_count(ctx.settings.model); ++m) nets.push_back(train_feature_net(ctx, m));
  return nets;
}

PerModality<torch::Tensor> refined_features(const FoldContext& ctx, PerModality<FeatureNet>* nets) {
  PerModality<torch::Tensor> out;
  const auto& modalities = ctx.settings.model.modalities;
  for (int m = 0; m < modalities.size(); ++m) {
    const auto& raw = ctx.corpus.features[static_cast<std::size_t>(m)];
    torch::Tensor refined;
    if (nets) {
      auto& net = (*nets)[static_cast<size_t>(m)];
      net->to(ctx.settings.device);
      net->eval();
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> parts;
      for (std::int64_t at = 0; at < raw.size(0); at += 4096)
        parts.push_back(
            net->forward(raw.slice(0, at, std::min(at + 4096, raw.size(0))).to(ctx.settings.device)).feature.cpu());
      refined = parts.empty() ? torch::empty({0, raw.size(1)}) : torch::cat(parts);
    } else {
      refined = raw.clone();
    }
    // Text features are compared by cosine (docs/algorithm.md §0): unit rows.
    if (modalities.name(m) == "text") refined = normalise_rows(refined);
    out.push_back(refined);
  }
  return out;
}

PerModality<torch::Tensor> refine_features(const FoldContext& ctx) {
  if (!ctx.settings.finetune_features || ctx.settings.finetune_epochs <= 0) return refined_features(ctx, nullptr);
  auto nets = train_feature_nets(ctx);
  return refined_features(ctx, &nets);
}

}  // namespace hardy
