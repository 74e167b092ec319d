#include "train/teacher_stage.h"

#include "core/error.h"
#include "core/log.h"
#include "data/random.h"
#include "model/losses.h"
#include "train/data_parallel.h"
#include "train/loop.h"
#include "train/random_streams.h"
#include "train/checkpoint.h"
#include "train/step_checkpoints.h"


#include <numeric>
#include <optional>

namespace hardy {

TeacherNet train_teacher(const FoldContext& ctx, const PerModality<torch::Tensor>& features,
                         const std::string& checkpoint) {
  const auto& s = ctx.settings;
  seed_epoch(s.seed, kTeacherStream, -1);
  TeacherNet net(s.model);
  net->to(s.device);
  torch::optim::Adam optimizer(net->parameters(),
                               torch::optim::AdamOptions(s.lr).weight_decay(s.weight_decay));
  std::optional<CheckpointState> resumed =
      load_stage_checkpoint(ctx, checkpoint, *net, optimizer, fmt::format("{} | teacher", ctx.plan.name));
  const std::int64_t start = resumed ? resumed->epoch : 0;
  if (resumed && resumed->step == 0 && start > 0 && start < s.teacher_epochs)
    log::info("{} | teacher | resuming after epoch {}", ctx.plan.name, start);
  require_same_on_all_ranks(ctx, start, "the epoch to resume the teacher from");
  require_same_on_all_ranks(ctx, resumed ? resumed->step : 0, "the batch to resume the teacher's epoch from");

  // Stage 2 trains on missing-modality inputs: the complete condition is left out of
  // the draw (it has nothing to reconstruct) unless it is the only one configured.
  const auto& modalities = s.model.modalities;
  std::vector<std::vector<bool>> conditions;
  for (const auto& c : s.conditions)
    if (c != modalities.complete_condition()) conditions.push_back(modalities.parse_condition(c));
  const std::vector<bool> all(static_cast<std::size_t>(modalities.size()), true);
  if (conditions.empty()) conditions.push_back(all);
  auto& times = stage_times("teacher");
  DataParallel parallel(ctx, net->parameters(), times);
  StepCheckpoints steps(ctx, fmt::format("{} | teacher", ctx.plan.name));
  EpochLog log(ctx, fmt::format("{} | teacher", ctx.plan.name), "teacher", "", s.teacher_epochs, start);
  for (std::int64_t epoch = start; epoch < s.teacher_epochs; ++epoch) {
    seed_epoch(s.seed, kTeacherStream, epoch);
    // Mid-epoch resume: the batches already done are skipped (their condition draws
    // still made, below), with the generators as they were after them.
    const std::int64_t skip = epoch == start && resumed ? steps.resume(*resumed, parallel) : 0;
    net->train();
    const bool stage1 = epoch < s.teacher_stage1_epochs;
    Random pick(s.seed, kConditionStream + static_cast<std::uint64_t>(epoch));
    const auto batches = sequence_batches(ctx, s.seed, epoch, s.batch_size);
    for (std::int64_t b = 0; b < static_cast<std::int64_t>(batches.size()); ++b) {
      const auto& share = batches[static_cast<std::size_t>(b)];
      // Drawn for every global batch on every rank, so all ranks agree on it.
      auto keep = stage1 ? all : conditions[static_cast<size_t>(pick.below(static_cast<std::int64_t>(conditions.size())))];
      if (b < skip) continue;
      torch::Tensor loss;
      LossTerms terms;  // for metrics.csv; the loss is computed as it always was
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
          terms.reconstruction = mean_terms.detach() * share.share();
          torch::Tensor sum_terms, task;
          auto add_task = [&](const torch::Tensor& t) {
            mean_terms = mean_terms + t;
            task = task.defined() ? task + t.detach() : t.detach();
          };
          if (stage1) {
            for (const auto& logits : out.modality_logits) add_task(ctx.task_loss(logits, label, real, share.share()));
            sum_terms = s.lambda_mi * mi_loss(out.mi, real);
            terms.mi = sum_terms.detach();
          } else {
            add_task(ctx.task_loss(out.joint_logits, label, real, share.share()));
          }
          terms.task = task * share.share();
          auto weighted = mean_terms * share.share();
          return sum_terms.defined() ? weighted + sum_terms : weighted;
        });
      } else {  // stage 1 has a task term per modality head, stage 2 the joint head's
        ctx.join_task_losses(stage1 ? modality_count(s.model) : 1);
      }
      parallel.step(optimizer, loss, terms);
      steps.after_batch(epoch, b, parallel, [&](CheckpointState& state) {
        if (ctx.writes_files()) save_checkpoint(checkpoint, *net, optimizer, state);
      });
    }
    const double loss = parallel.epoch_loss();
    log.record({.epoch = epoch, .phase = stage1 ? "stage 1, complete" : "stage 2, conditions", .loss = loss,
                .utterances = train_utterances(ctx), .steps = parallel.epoch_steps(), .lr = s.lr,
                .terms = parallel.epoch_terms()});
    if (ctx.writes_files()) save_checkpoint(checkpoint, *net, optimizer, CheckpointState{epoch + 1, 0, {}});
    steps.saved();
    log.print();
  }
  return net;
}

}  // namespace hardy
