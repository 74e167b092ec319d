// The task term of a loss whose value is a statistic of the whole global batch (CCC),
// when the batch is split over the ranks of a group (docs/algorithm.md, "Regression").
//
// Every other task term is a mean over utterances: each rank weights its mean by its
// share of the batch and the summed gradients are the single-process ones
// (data_parallel.h). CCC is not such a mean. Here each rank computes the batch's
// sufficient statistics over its utterances; they are summed over the group (one
// allreduce of 6 x targets doubles); each rank evaluates the loss of the summed
// statistics but back-propagates through its own only. Since the loss depends on the
// parameters only through the statistics, the gradients summed over the ranks are
// exactly the single-process gradient (up to float rounding).
#pragma once

#include "dist/communicator.h"

#include <torch/torch.h>

#include <cstdint>

namespace hardy {

// 1 - mean over targets of the CCC of the global batch, for predictions and targets
// [B, T, K] of this rank's part of it (`real` [B, T]); `share` is this rank's share
// of the batch's utterances. The caller multiplies the result by `share`, like every
// mean term: the value returned is the global loss and its gradient is scaled by
// 1 / share, so that after the weighting the values add up to the global loss over
// the ranks and the gradients to its gradient. Collective over `group` when it has
// more than one rank.
torch::Tensor global_batch_ccc_loss(const torch::Tensor& prediction, const torch::Tensor& target,
                                    const torch::Tensor& real, double share, Communicator& group);

// A rank holding none of the batch joins the collective of global_batch_ccc_loss
// (contributing nothing) for a model of `targets` outputs on `device`.
void join_global_batch_ccc_loss(std::int64_t targets, const torch::Device& device, Communicator& group);

}  // namespace hardy
