// Data-parallel training of one network over the ranks of a fold (docs/data-parallel.md,
// "Global batches and loss shares").
//
// Global batches. Every rank draws the epoch's order over the fold's *global*
// training sequences (or utterances) from (seed, epoch), exactly as one process
// does, and cuts it into the same batches of training.batch_size. Each rank trains
// on the part of every global batch that it holds and weights its mean loss by its
// share of the batch's utterances (local / global); the gradients are summed over
// the ranks, so each step is the single-process step on the whole global batch for
// any number of ranks (up to float rounding). Terms that are sums over utterances
// (L_MI) are not weighted. A term that is a statistic of the whole batch (the CCC loss
// of regression) sums its statistics over the ranks first (train/task_loss.h).
//
// Join semantics. Every rank takes every step of every epoch: the number of steps is
// that of the global order, the same on all ranks. A rank that holds none of a
// batch (uneven shards, small batches, more ranks than sequences) joins the step
// with a zero gradient, so no collective is ever left waiting.
#pragma once

#include "dist/gradient_synchronizer.h"
#include "train/loop.h"
#include "train/fold_context.h"

#include <torch/torch.h>

#include <cstdint>
#include <array>
#include <cmath>
#include <memory>
#include <vector>

namespace hardy {

// The part of one global batch that this rank holds.
struct BatchShare {
  std::vector<std::int64_t> local;  // indices into this rank's sequences or utterances
  std::int64_t utterances = 0;      // utterances in the whole global batch
  std::int64_t local_utterances = 0;
  // Weight of this rank's mean loss: local_utterances / utterances.
  double share() const {
    return utterances > 0 ? static_cast<double>(local_utterances) / static_cast<double>(utterances) : 0.0;
  }
  bool empty() const { return local.empty(); }
};

// Training utterances of the fold over all ranks (for progress lines).
std::int64_t train_utterances(const FoldContext& ctx);

// Batches of `batch_size` training sequences in the epoch's global order; `local`
// holds indices into ctx.train.
std::vector<BatchShare> sequence_batches(const FoldContext& ctx, std::uint64_t seed,
                                         std::int64_t epoch, std::int64_t batch_size);

// Batches of `batch_size` training utterances in the epoch's global order over all
// ranks' training utterances; `local` holds positions in ctx.train.rows().
std::vector<BatchShare> utterance_batches(const FoldContext& ctx, std::uint64_t seed,
                                          std::int64_t epoch, std::int64_t batch_size);

// The parts of one step's loss, for the metrics log (train/metrics_log.h): this rank's
// share of each term exactly as it enters the loss (a mean term times the batch share;
// the MI term as summed). Undefined: the step has no such term, or this rank holds none
// of the batch.
struct LossTerms {
  torch::Tensor task, reconstruction, mi;
};
constexpr int kLossTerms = 3;  // task, reconstruction, mi

// One network's optimizer steps, summed over the ranks when the fold is sharded.
class DataParallel {
 public:
  // Collective when sharded: every rank takes rank 0's parameter values.
  DataParallel(const FoldContext& ctx, const std::vector<torch::Tensor>& parameters,
               StageTimes& times);

  // One step: backward of `loss` (this rank's weighted share of the global batch's
  // loss; undefined when it holds none of the batch), gradient sum over the ranks,
  // optimizer step. Collective when sharded.
  void step(torch::optim::Optimizer& optimizer, const torch::Tensor& loss, const LossTerms& terms = {});

  // Mean over the epoch's steps of the global batch loss; resets. Collective.
  double epoch_loss();
  // The optimizer steps of the epoch epoch_loss() last closed.
  std::int64_t epoch_steps() const { return epoch_steps_; }
  // Of that epoch, the mean over its steps of each loss term (task, reconstruction,
  // mi), summed over the ranks; NaN for a term no step had.
  std::array<double, kLossTerms> epoch_terms() const { return epoch_terms_; }

  // For step checkpoints: the epoch's loss so far, summed over the ranks, as float64
  // [sum, steps] (collective); and its restoration when an epoch resumes mid-way (every
  // rank passes the saved tensor; the sum counts once, on rank 0), so the epoch's
  // logged loss is the uninterrupted run's.
  torch::Tensor running_loss();
  void resume_running_loss(const torch::Tensor& saved);

 private:
  const FoldContext& ctx_;
  StageTimes& times_;
  std::unique_ptr<GradientSynchronizer> sync_;
  // The epoch so far on this rank: [loss, task, reconstruction, mi, then how many
  // steps had each term] (doubles, summed over the ranks at the epoch's end).
  torch::Tensor sums() const;
  double loss_sum_ = 0;
  std::array<double, kLossTerms> term_sums_{}, term_steps_{};
  std::int64_t steps_ = 0, epoch_steps_ = 0;
  std::array<double, kLossTerms> epoch_terms_{NAN, NAN, NAN};
};

// Collective when sharded: throws on every rank unless `value` (e.g. the epoch a
// checkpoint resumes from) is the same on all ranks, naming `what`.
void require_same_on_all_ranks(const FoldContext& ctx, std::int64_t value, const std::string& what);

// Collective when sharded: the concatenation over ranks of each rank's rows.
torch::Tensor gather_rows(const FoldContext& ctx, const torch::Tensor& rows);

}  // namespace hardy
