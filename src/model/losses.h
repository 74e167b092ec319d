// Training losses and the per-utterance hardness terms (docs/algorithm.md §1, §3).
// Every function ignores padding (real == false): values there may be anything,
// including NaN, without affecting the result.
#pragma once

#include <torch/torch.h>

#include "core/modality.h"

namespace hardy {

// Cross-entropy of logits [B, T, C] against int64 labels [B, T], averaged over the
// real utterances (0 when there are none). Throws hardy::Error if a real utterance's
// label is outside [0, C). With `class_weights` [C] (training.class_weights), each
// utterance's term is multiplied by its class's weight before the same mean over
// utterances (not divided by the sum of the weights, unlike torch's weighted CE: a
// sum over ranks of shares of this mean is the mean of the whole batch).
torch::Tensor masked_cross_entropy(const torch::Tensor& logits, const torch::Tensor& label,
                                   const torch::Tensor& real, const torch::Tensor& class_weights = {});

// Squared error of predicted scores [B, T] or [B, T, 1] against float targets [B, T]
// (sentiment), or of predictions [B, T, K] against targets [B, T, K] (regression: the
// mean over the K targets), averaged over the real utterances (0 when there are none).
torch::Tensor masked_mse(const torch::Tensor& prediction, const torch::Tensor& target,
                         const torch::Tensor& real);

// The sufficient statistics of the concordance correlation coefficient over the real
// utterances, per target: float64 [6, K] = (n, Σp, Σy, Σp², Σy², Σpy) for predictions
// and targets [B, T, K]. Sums, so the statistics of a batch split over ranks add up;
// differentiable in the predictions.
torch::Tensor ccc_statistics(const torch::Tensor& prediction, const torch::Tensor& target,
                             const torch::Tensor& real);

// Lin's CCC per target [K] from ccc_statistics (population moments):
//   CCC = 2 cov(p, y) / (var p + var y + (mean p - mean y)^2),
// with the denominator kept above 1e-12, so a constant prediction of a constant target
// gives 0 instead of NaN. 0 for a target without utterances.
torch::Tensor ccc_from_statistics(const torch::Tensor& statistics);

// masked_mse for sentiment scores, masked_cross_entropy for classes.
torch::Tensor task_loss(const torch::Tensor& logits, const torch::Tensor& label,
                        const torch::Tensor& real, bool sentiment, const torch::Tensor& class_weights = {});

// training.class_weights = "inverse_frequency" (sklearn's "balanced"): for per-class
// counts n_c of the training labels, w_c = N / (C' · n_c) with N = Σ n_c and C' the
// classes with n_c > 0; w_c = 0 where n_c = 0. float32 [C].
torch::Tensor inverse_frequency_weights(const torch::Tensor& counts);

// Direct hardness Hd [B, T]: the mean over the MISSING modalities (available ==
// false) of the reconstruction MSE averaged over that modality's dims,
//   Hd = mean_{m missing} mean_k (x̂^m_k - x^m_k)^2,
// against the TRUE features `x` (the complete features, not the zeroed model input:
// docs/algorithm.md §1.2 [decision]). 0 where no modality is missing and at padding.
torch::Tensor per_utterance_reconstruction_error(const PerModality<torch::Tensor>& reconstruction,
                                                 const PerModality<torch::Tensor>& x,
                                                 const torch::Tensor& available,
                                                 const torch::Tensor& real);

// L_rec: per_utterance_reconstruction_error averaged over the real utterances
// (utterances with nothing missing count as 0; the loss is 0 without real utterances).
torch::Tensor reconstruction_loss(const PerModality<torch::Tensor>& reconstruction,
                                  const PerModality<torch::Tensor>& x,
                                  const torch::Tensor& available, const torch::Tensor& real);

// L_MI = -sum over real utterances of the mean MI over the modality pairs (with three:
// (MI(a,t) + MI(a,v) + MI(t,v)) / 3); mi: [B, T, pairs].
// A sum, not a mean, as in the authors' code (docs/algorithm.md §1.5); it is weighted by
// lambda_MI = 0.001.
torch::Tensor mi_loss(const torch::Tensor& mi, const torch::Tensor& real);

// Indirect hardness Hi [B, T] = MI(a,t) + MI(a,v) + MI(t,v); 0 at padding.
torch::Tensor indirect_hardness(const torch::Tensor& mi, const torch::Tensor& real);

}  // namespace hardy
