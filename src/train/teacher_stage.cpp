// §0 feature refinement, §1 teacher training and hardness scoring.
#include "core/error.h"
#include "data/random.h"
#include "model/feature_net.h"
#include "model/losses.h"
#include "train/data_parallel.h"
#include "train/loop.h"
#include "train/checkpoint.h"
#include "train/stages.h"

#include <spdlog/spdlog.h>

#include <numeric>

namespace hardy {

namespace {

constexpr std::int64_t kFeatureBatch = 256;  // utterances per feature-net step
constexpr std::uint64_t kFeatureStream = 100, kTeacherStream = 200, kConditionStream = 300;

torch::Tensor normalise_rows(const torch::Tensor& x) {
  return torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().dim(1));
}

// Utterance-level task loss for [N, outputs] predictions.
torch::Tensor utterance_loss(const torch::Tensor& logits, const torch::Tensor& label, bool sentiment) {
  if (sentiment) return torch::mse_loss(logits.squeeze(-1), label);
  return torch::nn::functional::cross_entropy(logits, label);
}

FeatureNet train_feature_net(const FoldContext& ctx, int m) {
  const auto& s = ctx.settings;
  const auto& raw = ctx.corpus.features[m];
  auto& times = stage_times("features");
  seed_epoch(s.seed, kFeatureStream + m, -1);
  FeatureNet net(raw.size(1), s.model.outputs);
  net->to(s.device);
  torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(s.finetune_lr));
  DataParallel parallel(ctx, net->parameters(), times);
  auto rows = ctx.train.rows();
  auto x = raw.index_select(0, rows).to(s.device);
  auto y = ctx.corpus.label.index_select(0, rows).to(s.device);
  const char* names[] = {"audio", "text", "visual"};
  EpochLog log(fmt::format("{} | features ({})", ctx.plan.name, names[m]), s.finetune_epochs, 0);
  for (std::int64_t epoch = 0; epoch < s.finetune_epochs; ++epoch) {
    seed_epoch(s.seed, kFeatureStream + m, epoch);
    net->train();
    for (const auto& batch : utterance_batches(ctx, s.seed + m, epoch, kFeatureBatch)) {
      torch::Tensor loss;
      if (!batch.empty()) {
        auto idx = timed(times.data_s, [&] { return torch::tensor(batch.local, torch::kInt64).to(s.device); });
        loss = timed(times.compute_s, [&] {
          return utterance_loss(net->forward(x.index_select(0, idx)).logits, y.index_select(0, idx),
                                s.sentiment) * batch.share();
        });
      }
      parallel.step(optimizer, loss);
    }
    auto loss = parallel.epoch_loss();
    if (epoch + 1 == s.finetune_epochs || (epoch + 1) % 10 == 0)
      log.epoch_done(epoch, "fine-tune", loss, train_utterances(ctx));
  }
  return net;
}

}  // namespace

std::array<FeatureNet, 3> train_feature_nets(const FoldContext& ctx) {
  return {train_feature_net(ctx, 0), train_feature_net(ctx, 1), train_feature_net(ctx, 2)};
}

std::array<torch::Tensor, 3> refined_features(const FoldContext& ctx, std::array<FeatureNet, 3>* nets) {
  std::array<torch::Tensor, 3> out;
  for (int m = 0; m < 3; ++m) {
    const auto& raw = ctx.corpus.features[m];
    if (nets) {
      auto& net = (*nets)[static_cast<size_t>(m)];
      net->to(ctx.settings.device);
      net->eval();
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> parts;
      for (std::int64_t at = 0; at < raw.size(0); at += 4096)
        parts.push_back(
            net->forward(raw.slice(0, at, std::min(at + 4096, raw.size(0))).to(ctx.settings.device)).feature.cpu());
      out[m] = parts.empty() ? torch::empty({0, raw.size(1)}) : torch::cat(parts);
    } else {
      out[m] = raw.clone();
    }
    if (m == static_cast<int>(Modality::Text)) out[m] = normalise_rows(out[m]);
  }
  return out;
}

std::array<torch::Tensor, 3> refine_features(const FoldContext& ctx) {
  if (!ctx.settings.finetune_features || ctx.settings.finetune_epochs <= 0) return refined_features(ctx, nullptr);
  auto nets = train_feature_nets(ctx);
  return refined_features(ctx, &nets);
}

TeacherNet train_teacher(const FoldContext& ctx, const std::array<torch::Tensor, 3>& features,
                         const std::string& checkpoint) {
  const auto& s = ctx.settings;
  seed_epoch(s.seed, kTeacherStream, -1);
  TeacherNet net(s.model);
  net->to(s.device);
  torch::optim::Adam optimizer(net->parameters(),
                               torch::optim::AdamOptions(s.lr).weight_decay(s.weight_decay));
  std::int64_t start = 0;
  if (auto state = load_checkpoint(checkpoint, *net, optimizer)) {
    start = state->epoch;
    if (start > 0 && start < s.teacher_epochs)
      spdlog::info("{} | teacher | resuming after epoch {}", ctx.plan.name, start);
  }
  require_same_on_all_ranks(ctx, start, "the epoch to resume the teacher from");

  // Stage 2 trains on missing-modality inputs: the complete condition is left out of
  // the draw (it has nothing to reconstruct) unless it is the only one configured.
  std::vector<std::array<bool, 3>> conditions;
  for (const auto& c : s.conditions)
    if (c != "atv") conditions.push_back(parse_condition(c));
  if (conditions.empty()) conditions.push_back({true, true, true});
  const std::array<bool, 3> all{true, true, true};
  auto& times = stage_times("teacher");
  DataParallel parallel(ctx, net->parameters(), times);
  EpochLog log(fmt::format("{} | teacher", ctx.plan.name), s.teacher_epochs, start);
  for (std::int64_t epoch = start; epoch < s.teacher_epochs; ++epoch) {
    seed_epoch(s.seed, kTeacherStream, epoch);
    net->train();
    const bool stage1 = epoch < s.teacher_stage1_epochs;
    Random pick(s.seed, kConditionStream + static_cast<std::uint64_t>(epoch));
    for (const auto& share : sequence_batches(ctx, s.seed, epoch, s.batch_size)) {
      // Drawn for every global batch on every rank, so all ranks agree on it.
      auto keep = stage1 ? all : conditions[static_cast<size_t>(pick.below(static_cast<std::int64_t>(conditions.size())))];
      torch::Tensor loss;
      if (!share.empty()) {
        SequenceBatch truth, batch, device_batch;
        timed(times.data_s, [&] {
          auto layout = batch_layout(ctx.train, share.local);
          truth = gather_batch(features, ctx.corpus.label, layout.rows, layout.rows, layout.real, all);
          batch = apply_condition(truth, keep);
          device_batch = batch_to(batch, s.device);
          truth.x = tensors_to(truth.x, s.device);
          return 0;
        });
        loss = timed(times.compute_s, [&] {
          auto out = net->forward(device_batch);
          const auto& real = device_batch.real;
          const auto& label = device_batch.label;
          // Means over utterances carry this rank's share; L_MI is a sum.
          auto mean_terms = reconstruction_loss(out.reconstruction, truth.x, device_batch.available, real);
          torch::Tensor sum_terms;
          if (stage1) {
            for (int m = 0; m < 3; ++m) mean_terms = mean_terms + task_loss(out.modality_logits[m], label, real, s.sentiment);
            sum_terms = s.lambda_mi * mi_loss(out.mi, real);
          } else {
            mean_terms = mean_terms + task_loss(out.joint_logits, label, real, s.sentiment);
          }
          auto weighted = mean_terms * share.share();
          return sum_terms.defined() ? weighted + sum_terms : weighted;
        });
      }
      parallel.step(optimizer, loss);
    }
    auto loss = parallel.epoch_loss();
    if (ctx.writes_files()) save_checkpoint(checkpoint, *net, optimizer, CheckpointState{epoch + 1, {}});
    log.epoch_done(epoch, stage1 ? "stage 1, complete" : "stage 2, conditions", loss,
                   train_utterances(ctx));
  }
  return net;
}

HardnessScores score_hardness(const FoldContext& ctx, TeacherNet& teacher,
                              const std::array<torch::Tensor, 3>& features) {
  const auto& s = ctx.settings;
  teacher->eval();
  torch::NoGradGuard no_grad;
  HardnessScores scores;
  scores.rows = ctx.train.rows();
  // Position of each training row in `scores.rows`, to place per-utterance values by
  // row id rather than by their (batch-major) order inside a batch.
  auto position = torch::full({ctx.corpus.size()}, -1, torch::kInt64);
  position.index_put_({scores.rows}, torch::arange(scores.rows.numel(), torch::kInt64));
  const std::array<bool, 3> all{true, true, true};
  std::vector<std::int64_t> natural(static_cast<size_t>(ctx.train.sequences()));
  std::iota(natural.begin(), natural.end(), std::int64_t{0});

  for (const auto& name : s.conditions) {
    auto keep = parse_condition(name);
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
    for (const auto& ids : make_batches(natural, s.batch_size)) {
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
    if (!s.batch_normalization) {
      if (ctx.sharded()) {  // the dataset's range: one max-allreduce over the ranks' ranges
        auto t = whole.to_max_tensor();
        ctx.comm->allreduce(t, ReduceOp::Max)->wait();
        whole = HardnessRange::from_max_tensor(t);
      }
      unified = unified_hardness(direct, indirect, whole, s.hardness);
    }
    scores.direct[name] = direct;
    scores.indirect[name] = indirect;
    scores.unified[name] = unified;
  }
  return scores;
}

}  // namespace hardy
