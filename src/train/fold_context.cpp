#include "train/fold_context.h"

#include "core/error.h"
#include "model/losses.h"
#include "train/task_loss.h"

#include <numeric>

namespace hardy {

namespace {

bool is_identity(const torch::Tensor& row) {
  return row.numel() == 0 ||
         row.equal(torch::arange(row.numel(), torch::TensorOptions().dtype(row.scalar_type())));
}

}  // namespace

FoldContext::FoldContext(const TrainSettings& s, const FoldShard& shard, std::string d,
                         std::shared_ptr<Communicator> c)
    : settings(s), corpus(shard.rows), plan(shard.plan), train(sequence_set(shard.plan.train)),
      valid(sequence_set(shard.plan.valid)), test(sequence_set(shard.plan.test)), dir(std::move(d)),
      comm(std::move(c)), global_train(shard.global_train), train_local(shard.train_local) {
  HARDY_THROW_IF_NOT_MSG(comm, "{}: a fold context needs a communicator (local_world() on one process)",
                         plan.name);
  HARDY_THROW_IF_NOT_MSG(train_local.size() == global_train.size(),
                         "{}: {} local positions for {} training sequences", plan.name,
                         train_local.size(), global_train.size());
  table_is_global_ = comm->size() == 1 && is_identity(corpus.row);
}

FoldContext::FoldContext(const TrainSettings& s, const CorpusRows& rows, const FoldPlan& p,
                         std::string d, std::shared_ptr<Communicator> c)
    : settings(s), corpus(rows), plan(p), train(sequence_set(p.train)), valid(sequence_set(p.valid)),
      test(sequence_set(p.test)), dir(std::move(d)), comm(std::move(c)), global_train(p.train) {
  HARDY_THROW_IF_NOT_MSG(comm && comm->size() == 1,
                         "{}: a context over the whole table is for one process; shard the fold "
                         "(shard_fold) to run on several ranks",
                         plan.name);
  train_local.resize(plan.train.size());
  std::iota(train_local.begin(), train_local.end(), std::int64_t{0});
  table_is_global_ = is_identity(corpus.row);
}

torch::Tensor FoldContext::task_loss(const torch::Tensor& logits, const torch::Tensor& label,
                                     const torch::Tensor& real, double share) const {
  if (!settings.regression) return hardy::task_loss(logits, label, real, settings.sentiment, class_weights);
  if (!settings.ccc_loss) return masked_mse(logits, label, real);
  return global_batch_ccc_loss(logits, label, real, share, *comm);
}

void FoldContext::join_task_losses(int terms) const {
  if (!settings.regression || !settings.ccc_loss) return;
  for (int i = 0; i < terms; ++i)
    join_global_batch_ccc_loss(static_cast<std::int64_t>(settings.targets.size()), settings.device, *comm);
}

void FoldContext::compute_class_weights() {
  if (!settings.inverse_frequency_weights || settings.classes == 0) return;
  auto labels = corpus.label.index_select(0, train.rows());
  auto counts = torch::bincount(labels, {}, settings.classes).to(torch::kFloat64);
  comm->allreduce(counts, ReduceOp::Sum)->wait();
  class_weights = inverse_frequency_weights(counts);
}

}  // namespace hardy
