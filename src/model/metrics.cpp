#include "model/metrics.h"

#include <fmt/ranges.h>

#include "core/error.h"

namespace hardy {

namespace {

// Weighted F1 and mean recall from a confusion matrix counts[target][prediction].
struct Summary {
  double accuracy = 0.0, mean_recall = 0.0, weighted_f1 = 0.0, macro_f1 = 0.0;
};

Summary summarize(const std::vector<std::vector<std::int64_t>>& counts) {
  const auto classes = counts.size();
  std::int64_t total = 0, correct = 0;
  std::vector<std::int64_t> support(classes, 0), predicted(classes, 0);
  for (std::size_t t = 0; t < classes; ++t)
    for (std::size_t p = 0; p < classes; ++p) {
      total += counts[t][p];
      support[t] += counts[t][p];
      predicted[p] += counts[t][p];
      if (t == p) correct += counts[t][p];
    }
  Summary s;
  s.accuracy = static_cast<double>(correct) / static_cast<double>(total);
  int present = 0, labelled = 0;
  for (std::size_t c = 0; c < classes; ++c) {
    if (support[c] == 0 && predicted[c] == 0) continue;  // in neither: not a label of this set
    ++labelled;
    const double tp = static_cast<double>(counts[c][c]);
    const double recall = support[c] > 0 ? tp / static_cast<double>(support[c]) : 0.0;
    const double precision = predicted[c] > 0 ? tp / static_cast<double>(predicted[c]) : 0.0;
    const double f1 =
        precision + recall > 0.0 ? 2.0 * precision * recall / (precision + recall) : 0.0;
    s.macro_f1 += f1;
    if (support[c] == 0) continue;  // absent classes have no recall and zero weight
    ++present;
    s.mean_recall += recall;
    s.weighted_f1 += f1 * static_cast<double>(support[c]);
  }
  s.mean_recall /= present;
  s.weighted_f1 /= static_cast<double>(total);
  s.macro_f1 /= labelled;
  return s;
}

template <typename T>
std::vector<T> to_vector(const torch::Tensor& t, torch::ScalarType type, const char* name) {
  HARDY_THROW_IF_NOT_MSG(t.defined() && t.dim() == 1, "metrics: {} must be a 1-D tensor", name);
  auto c = t.to(torch::kCPU, type).contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

}  // namespace

ClassificationMetrics classification_metrics(const std::vector<std::int64_t>& predictions,
                                             const std::vector<std::int64_t>& targets,
                                             std::int64_t classes) {
  HARDY_THROW_IF_NOT_MSG(classes > 0, "metrics: the class count must be positive, got {}",
                         classes);
  HARDY_THROW_IF_NOT_MSG(predictions.size() == targets.size(),
                         "metrics: {} predictions for {} targets", predictions.size(),
                         targets.size());
  HARDY_THROW_IF_NOT_MSG(!targets.empty(), "metrics: nothing to evaluate (no samples)");
  std::vector<std::vector<std::int64_t>> counts(classes, std::vector<std::int64_t>(classes, 0));
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto t = targets[i], p = predictions[i];
    HARDY_THROW_IF_NOT_MSG(t >= 0 && t < classes && p >= 0 && p < classes,
                           "metrics: sample {} has target {} / prediction {} outside [0, {})",
                           i, t, p, classes);
    ++counts[t][p];
  }
  auto s = summarize(counts);
  ClassificationMetrics m{s.accuracy, s.mean_recall, s.weighted_f1, s.macro_f1, {}};
  for (const auto& row : counts) m.confusion.insert(m.confusion.end(), row.begin(), row.end());
  return m;
}

ClassificationMetrics classification_metrics(const torch::Tensor& predictions,
                                             const torch::Tensor& targets, std::int64_t classes) {
  return classification_metrics(to_vector<std::int64_t>(predictions, torch::kLong, "predictions"),
                                to_vector<std::int64_t>(targets, torch::kLong, "targets"),
                                classes);
}

SentimentMetrics sentiment_metrics(const std::vector<double>& predicted_scores,
                                   const std::vector<double>& true_scores) {
  HARDY_THROW_IF_NOT_MSG(predicted_scores.size() == true_scores.size(),
                         "metrics: {} predicted scores for {} true scores",
                         predicted_scores.size(), true_scores.size());
  // Class 1 = positive, 0 = negative.
  std::vector<std::vector<std::int64_t>> counts(2, std::vector<std::int64_t>(2, 0));
  SentimentMetrics out;
  for (std::size_t i = 0; i < true_scores.size(); ++i) {
    if (true_scores[i] == 0.0) continue;
    ++counts[true_scores[i] > 0.0][predicted_scores[i] > 0.0];
    ++out.evaluated;
  }
  if (out.evaluated == 0) return out;
  auto s = summarize(counts);
  out.accuracy = s.accuracy;
  out.weighted_f1 = s.weighted_f1;
  return out;
}

SentimentMetrics sentiment_metrics(const torch::Tensor& predicted_scores,
                                   const torch::Tensor& true_scores) {
  return sentiment_metrics(to_vector<double>(predicted_scores, torch::kDouble, "predicted scores"),
                           to_vector<double>(true_scores, torch::kDouble, "true scores"));
}

RegressionMetrics regression_metrics(const torch::Tensor& predictions, const torch::Tensor& targets) {
  HARDY_THROW_IF_NOT_MSG(predictions.dim() == 2 && predictions.sizes() == targets.sizes() && predictions.size(0) >= 1,
                         "regression metrics need predictions and targets of the same shape [N >= 1, K], got {} and {}",
                         predictions.sizes().vec(), targets.sizes().vec());
  auto p = predictions.to(torch::kCPU, torch::kFloat64), y = targets.to(torch::kCPU, torch::kFloat64);
  auto dp = p - p.mean(0), dy = y - y.mean(0);  // two-pass moments
  auto var_p = dp.pow(2).mean(0), var_y = dy.pow(2).mean(0), cov = (dp * dy).mean(0);
  auto ccc = 2.0 * cov / (var_p + var_y + (p.mean(0) - y.mean(0)).pow(2)).clamp_min(1e-12);
  auto scale = (var_p * var_y).sqrt();
  auto pearson = torch::where(scale > 1e-12, cov / scale.clamp_min(1e-12), torch::zeros_like(cov));
  auto mse = (p - y).pow(2).mean(0);
  RegressionMetrics m;
  m.ccc = to_vector<double>(ccc, torch::kDouble, "CCC");
  m.pearson = to_vector<double>(pearson, torch::kDouble, "Pearson r");
  m.mse = to_vector<double>(mse, torch::kDouble, "MSE");
  m.mean_ccc = ccc.mean().item<double>();
  m.mean_pearson = pearson.mean().item<double>();
  m.mean_mse = mse.mean().item<double>();
  return m;
}

}  // namespace hardy
