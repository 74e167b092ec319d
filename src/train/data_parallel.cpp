#include "train/data_parallel.h"

#include "core/error.h"
#include "data/sharding.h"

#include <numeric>

namespace hardy {

namespace {

void require_global_plan(const FoldContext& ctx) {
  HARDY_THROW_IF_NOT_MSG(ctx.train_local.size() == ctx.global_train.size() && !ctx.global_train.empty(),
                         "{}: a sharded fold context needs the fold's global training sequences "
                         "to draw batches",
                         ctx.plan.name);
}

}  // namespace

std::int64_t train_utterances(const FoldContext& ctx) {
  if (ctx.global_train.empty()) return ctx.train.utterances();
  std::int64_t n = 0;
  for (const auto& s : ctx.global_train) n += s.count;
  return n;
}

std::vector<BatchShare> sequence_batches(const FoldContext& ctx, std::uint64_t seed,
                                         std::int64_t epoch, std::int64_t batch_size) {
  require_global_plan(ctx);
  auto n = static_cast<std::int64_t>(ctx.global_train.size());
  std::vector<BatchShare> out;
  for (const auto& ids : make_batches(epoch_order(n, seed, epoch), batch_size)) {
    BatchShare b;
    for (auto g : ids) {
      auto count = ctx.global_train[static_cast<size_t>(g)].count;
      b.utterances += count;
      auto local = ctx.train_local[static_cast<size_t>(g)];
      if (local < 0) continue;
      b.local.push_back(local);
      b.local_utterances += count;
    }
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<BatchShare> utterance_batches(const FoldContext& ctx, std::uint64_t seed,
                                          std::int64_t epoch, std::int64_t batch_size) {
  require_global_plan(ctx);
  // Global utterance position -> position in ctx.train.rows() (-1: another rank's).
  std::vector<std::int64_t> local_of;
  std::vector<std::int64_t> local_begin(ctx.train.begin.size() + 1, 0);
  for (size_t s = 0; s < ctx.train.count.size(); ++s) local_begin[s + 1] = local_begin[s] + ctx.train.count[s];
  for (size_t g = 0; g < ctx.global_train.size(); ++g) {
    auto local = ctx.train_local[g];
    for (std::int64_t t = 0; t < ctx.global_train[g].count; ++t)
      local_of.push_back(local < 0 ? -1 : local_begin[static_cast<size_t>(local)] + t);
  }
  std::vector<BatchShare> out;
  auto n = static_cast<std::int64_t>(local_of.size());
  for (const auto& ids : make_batches(epoch_order(n, seed, epoch), batch_size)) {
    BatchShare b;
    b.utterances = static_cast<std::int64_t>(ids.size());
    for (auto g : ids)
      if (auto local = local_of[static_cast<size_t>(g)]; local >= 0) b.local.push_back(local);
    b.local_utterances = static_cast<std::int64_t>(b.local.size());
    out.push_back(std::move(b));
  }
  return out;
}

DataParallel::DataParallel(const FoldContext& ctx, const std::vector<torch::Tensor>& parameters,
                           StageTimes& times)
    : ctx_(ctx), times_(times) {
  sync_ = std::make_unique<GradientSynchronizer>(ctx.comm, parameters, ctx.settings.sync);
  sync_->broadcast_parameters(0);
}

void DataParallel::step(torch::optim::Optimizer& optimizer, const torch::Tensor& loss, const LossTerms& terms) {
  HARDY_THROW_IF_NOT_MSG(loss.defined() || ctx_.comm->size() > 1,
                         "a training step without a loss in a single-process run (empty batch)");
  timed(times_.compute_s, [&] {
    // The synchronizer clears exactly what the optimizer would (its parameters), in
    // place when the gradients alias its buckets.
    sync_->zero_grad();
    if (loss.defined()) loss.backward();
    return 0;
  });
  double before = sync_->stats().wait_seconds;
  sync_->synchronize(loss.defined());
  times_.grad_sync_s += sync_->stats().wait_seconds - before;
  timed(times_.compute_s, [&] {
    optimizer.step();
    // Read after synchronize(): a host read before it would wait, on a GPU, behind
    // collectives a silent peer never finishes, out of dist.timeout_s's reach.
    if (loss.defined()) loss_sum_ += loss.detach().item<double>();
    const torch::Tensor* parts[] = {&terms.task, &terms.reconstruction, &terms.mi};
    for (int k = 0; k < kLossTerms; ++k)
      if (parts[k]->defined()) {
        term_sums_[static_cast<std::size_t>(k)] += parts[k]->detach().sum().item<double>();
        term_steps_[static_cast<std::size_t>(k)] += 1;
      }
    return 0;
  });
  ++steps_;
  ++times_.steps;
}

torch::Tensor DataParallel::sums() const {
  std::vector<double> v{loss_sum_};
  v.insert(v.end(), term_sums_.begin(), term_sums_.end());
  v.insert(v.end(), term_steps_.begin(), term_steps_.end());
  return torch::tensor(v, torch::kFloat64);
}

double DataParallel::epoch_loss() {
  auto t = sums();
  ctx_.comm->allreduce(t, ReduceOp::Sum)->wait();
  const double sum = t[0].item<double>();
  double mean = sum / static_cast<double>(std::max<std::int64_t>(steps_, 1));
  for (int k = 0; k < kLossTerms; ++k) {
    // A term counts the steps that had it on some rank; its mean is per step of the epoch.
    const double seen = t[1 + kLossTerms + k].item<double>();
    epoch_terms_[static_cast<std::size_t>(k)] =
        seen > 0 ? t[1 + k].item<double>() / static_cast<double>(std::max<std::int64_t>(steps_, 1)) : NAN;
  }
  loss_sum_ = 0;
  term_sums_ = {};
  term_steps_ = {};
  epoch_steps_ = steps_;
  steps_ = 0;
  return mean;
}

torch::Tensor DataParallel::running_loss() {
  auto t = sums();
  ctx_.comm->allreduce(t, ReduceOp::Sum)->wait();
  return torch::cat({t, torch::tensor({static_cast<double>(steps_)}, torch::kFloat64)});
}

void DataParallel::resume_running_loss(const torch::Tensor& saved) {
  auto t = saved.to(torch::kCPU, torch::kFloat64);
  // [sum, steps] from checkpoints written before the loss terms were logged.
  const auto full = 2 + 2 * kLossTerms;
  HARDY_THROW_IF_NOT_MSG(t.numel() == 2 || t.numel() == full,
                         "a step checkpoint's running loss must hold [sum, steps] or [sum, {} terms, {} counts, "
                         "steps], got {} values",
                         kLossTerms, kLossTerms, t.numel());
  // The sums count once, on rank 0.
  const bool mine = ctx_.rank() == 0;
  loss_sum_ = mine ? t[0].item<double>() : 0.0;
  term_sums_ = {};
  term_steps_ = {};
  if (t.numel() == full)
    for (int k = 0; k < kLossTerms; ++k) {
      term_sums_[static_cast<std::size_t>(k)] = mine ? t[1 + k].item<double>() : 0.0;
      term_steps_[static_cast<std::size_t>(k)] = mine ? t[1 + kLossTerms + k].item<double>() : 0.0;
    }
  steps_ = static_cast<std::int64_t>(t[t.numel() - 1].item<double>());
}

void require_same_on_all_ranks(const FoldContext& ctx, std::int64_t value, const std::string& what) {
  auto t = torch::tensor({value, -value}, torch::kInt64);
  ctx.comm->allreduce(t, ReduceOp::Max)->wait();
  const auto high = t[0].item<std::int64_t>(), low = -t[1].item<std::int64_t>();
  HARDY_THROW_IF_NOT_MSG(high == low,
                         "{}: the ranks disagree on {} (from {} to {}; this rank: {}). Every rank reads "
                         "rank 0's checkpoints: put output.dir on a filesystem all ranks share",
                         ctx.plan.name, what, low, high, value);
}

torch::Tensor gather_rows(const FoldContext& ctx, const torch::Tensor& rows) {
  return ctx.comm->allgatherv(rows.contiguous());
}

}  // namespace hardy
