// §3 one student per missing-modality condition, with evaluation (docs/algorithm.md).
#pragma once

#include "retrieval/curriculum.h"
#include "train/fold_context.h"
#include "train/epoch_scores.h"
#include <array>
#include <string>
#include <vector>

namespace hardy {

// §3 one student for `condition`: stage 1 on complete modalities, stage 2 on the
// curriculum views (or the original samples when `curriculum` is null), evaluated
// on valid and test after every stage-2 epoch. Checkpoints every epoch.
// `test_quintile` (int64 [corpus rows] by global id, hardness_quintiles; undefined for
// none): each evaluation also measures the test accuracy per hardness quintile.
std::vector<EpochScores> train_student(const FoldContext& ctx,
                                       const PerModality<torch::Tensor>& features,
                                       const std::string& condition, const Curriculum* curriculum,
                                       const std::string& checkpoint,
                                       const torch::Tensor& test_quintile = torch::Tensor());

// Epoch scores as a float64 tensor [E, 8 + extra] (epoch, valid ×2, test ×2, valid and
// test macro-F1, test weighted F1, then the test confusion matrix or, for regression,
// CCC, r and MSE per target) and back, for checkpoints and artifacts.
torch::Tensor scores_to_tensor(const std::vector<EpochScores>& scores);
// `targets`: the regression targets of the corpus (0 otherwise), which say how to read
// the columns after the first eight.
std::vector<EpochScores> scores_from_tensor(const torch::Tensor& t, std::int64_t targets = 0);
// The test accuracy per hardness quintile of every epoch, float64 [E, 5] (NaN where not
// measured), and back into `scores` (same epochs), kept beside the history.
torch::Tensor quintiles_to_tensor(const std::vector<EpochScores>& scores);
void quintiles_from_tensor(const torch::Tensor& t, std::vector<EpochScores>& scores);

}  // namespace hardy
