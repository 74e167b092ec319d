// Evaluation metrics (docs/algorithm.md §4.2) on gathered predictions.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace hardy {

struct ClassificationMetrics {
  double wa = 0.0;           // weighted accuracy = plain accuracy
  double ua = 0.0;           // unweighted accuracy: mean recall over classes present in targets
  double weighted_f1 = 0.0;  // per-class F1 weighted by true support (sklearn average="weighted")
  double macro_f1 = 0.0;     // mean F1 over classes present in targets or predictions (sklearn average="macro")
  std::vector<std::int64_t> confusion;  // classes × classes, row-major: [true class][predicted class]
};

// Predictions and targets are class ids in [0, classes); they must be equally long and
// non-empty (hardy::Error otherwise). A class with precision + recall = 0 has F1 0.
ClassificationMetrics classification_metrics(const std::vector<std::int64_t>& predictions,
                                             const std::vector<std::int64_t>& targets,
                                             std::int64_t classes);
// The same on 1-D integer tensors (any device).
ClassificationMetrics classification_metrics(const torch::Tensor& predictions,
                                             const torch::Tensor& targets, std::int64_t classes);

struct SentimentMetrics {
  double accuracy = 0.0;
  double weighted_f1 = 0.0;
  std::int64_t evaluated = 0;  // samples with a non-zero true score
};

// Binary sentiment (CMU-MOSEI): a true score > 0 is positive, < 0 negative, and
// samples whose true score is exactly 0 are excluded. A predicted score > 0 is
// positive and anything else (0 included) negative, as in the authors' evaluation.
// weighted_f1 weights the two classes' F1 by their true support. With no
// evaluated sample both metrics are 0 and `evaluated` is 0.
SentimentMetrics sentiment_metrics(const std::vector<double>& predicted_scores,
                                   const std::vector<double>& true_scores);
// The same on 1-D floating-point tensors (any device).
SentimentMetrics sentiment_metrics(const torch::Tensor& predicted_scores,
                                   const torch::Tensor& true_scores);

// Regression (docs/algorithm.md, "Regression"): per target, Lin's concordance
// correlation coefficient, Pearson's r and the mean squared error, with population
// moments in float64; and their means over the targets. A target whose predictions or
// truths are constant has r = 0 (and CCC 0 unless both are the same constant, which
// gives 0 too: the denominator is kept above 1e-12).
struct RegressionMetrics {
  std::vector<double> ccc, pearson, mse;  // one per target
  double mean_ccc = 0.0, mean_pearson = 0.0, mean_mse = 0.0;
};

// Predictions and targets are [N, K] floating-point tensors of the same shape, N >= 1
// (hardy::Error otherwise).
RegressionMetrics regression_metrics(const torch::Tensor& predictions, const torch::Tensor& targets);

}  // namespace hardy
