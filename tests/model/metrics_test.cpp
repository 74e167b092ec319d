// WA / UA / weighted F1 and binary sentiment metrics on hand-computed examples.
#include "core/error.h"
#include "model/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace hardy {
namespace {

// 3 classes, 8 samples:
//   targets      0 0 0 1 1 1 2 2
//   predictions  0 0 2 1 0 1 2 0
// correct: samples 0, 1, 3, 5, 6 -> WA = 5/8.
// class 0: support 3, predicted 4 (0,1,4,7), tp 2 -> P 1/2, R 2/3, F1 = 4/7
// class 1: support 3, predicted 2 (3,5),     tp 2 -> P 1,   R 2/3, F1 = 4/5
// class 2: support 2, predicted 2 (2,6),     tp 1 -> P 1/2, R 1/2, F1 = 1/2
// UA = (2/3 + 2/3 + 1/2) / 3 = 11/18
// weighted F1 = (3 * 4/7 + 3 * 4/5 + 2 * 1/2) / 8 = 179/280
// macro F1 = (4/7 + 4/5 + 1/2) / 3 = 131/210
// confusion [true][predicted] = [2 0 1; 1 2 0; 1 0 1]
const std::vector<std::int64_t> kTargets = {0, 0, 0, 1, 1, 1, 2, 2};
const std::vector<std::int64_t> kPredictions = {0, 0, 2, 1, 0, 1, 2, 0};

TEST(ClassificationMetrics, HandExample) {
  auto m = classification_metrics(kPredictions, kTargets, 3);
  EXPECT_NEAR(m.wa, 5.0 / 8.0, 1e-12);
  EXPECT_NEAR(m.ua, 11.0 / 18.0, 1e-12);
  EXPECT_NEAR(m.weighted_f1, 179.0 / 280.0, 1e-12);
  EXPECT_NEAR(m.macro_f1, 131.0 / 210.0, 1e-12);
  EXPECT_EQ(m.confusion, (std::vector<std::int64_t>{2, 0, 1, 1, 2, 0, 1, 0, 1}));
}

// A class predicted but absent from the targets counts in macro-F1 (F1 0), as in
// sklearn, and not in UA: targets 0 0 1, predictions 0 2 1 ->
// class 0: P 1, R 1/2, F1 2/3; class 1: F1 1; class 2: F1 0; macro = 5/9; UA = 3/4.
TEST(ClassificationMetrics, MacroF1CountsPredictedOnlyClasses) {
  auto m = classification_metrics(std::vector<std::int64_t>{0, 2, 1}, std::vector<std::int64_t>{0, 0, 1}, 4);
  EXPECT_NEAR(m.macro_f1, 5.0 / 9.0, 1e-12);
  EXPECT_NEAR(m.ua, 3.0 / 4.0, 1e-12);
  EXPECT_EQ(m.confusion.size(), 16u);
}

TEST(ClassificationMetrics, TensorsGiveTheSameResult) {
  auto m = classification_metrics(torch::tensor(kPredictions), torch::tensor(kTargets), 3);
  EXPECT_NEAR(m.wa, 5.0 / 8.0, 1e-12);
  EXPECT_NEAR(m.ua, 11.0 / 18.0, 1e-12);
  EXPECT_NEAR(m.weighted_f1, 179.0 / 280.0, 1e-12);
}

TEST(ClassificationMetrics, UaIgnoresClassesAbsentFromTargets) {
  // A 4th class that never occurs as a target neither enters UA nor weighs in F1...
  auto m = classification_metrics(kPredictions, kTargets, 4);
  EXPECT_NEAR(m.ua, 11.0 / 18.0, 1e-12);
  EXPECT_NEAR(m.weighted_f1, 179.0 / 280.0, 1e-12);
  // ...but predicting it is still a mistake: sample 0 predicted 3 instead of 0.
  auto predictions = kPredictions;
  predictions[0] = 3;
  m = classification_metrics(predictions, kTargets, 4);
  EXPECT_NEAR(m.wa, 4.0 / 8.0, 1e-12);
  // class 0: R 1/3; UA = (1/3 + 2/3 + 1/2) / 3 = 1/2.
  EXPECT_NEAR(m.ua, 0.5, 1e-12);
}

TEST(ClassificationMetrics, PerfectPredictions) {
  auto m = classification_metrics(kTargets, kTargets, 3);
  EXPECT_DOUBLE_EQ(m.wa, 1.0);
  EXPECT_DOUBLE_EQ(m.ua, 1.0);
  EXPECT_DOUBLE_EQ(m.weighted_f1, 1.0);
}

TEST(ClassificationMetrics, RejectsBadInput) {
  EXPECT_THROW(classification_metrics({0, 1}, {0}, 2), Error);
  const std::vector<std::int64_t> none;
  EXPECT_THROW(classification_metrics(none, none, 2), Error);
  EXPECT_THROW(classification_metrics({0, 2}, {0, 1}, 2), Error);
  EXPECT_THROW(classification_metrics({0, 1}, {-1, 1}, 2), Error);
}

// true       1.5  -0.5   0    2.0  -1.0   0    3.0  -2.0
// predicted  0.3   0.2  1.0  -0.1   0.0  -3    1.0   0.5
// Zeros (samples 2, 5) are excluded -> 6 evaluated. A prediction of exactly 0 is negative.
//   true pos: 0 (pred pos, ok), 3 (pred neg), 6 (pred pos, ok)
//   true neg: 1 (pred pos), 4 (pred 0 -> neg, ok), 7 (pred pos)
// accuracy = 3/6.
// positive: support 3, predicted 4 (0,1,6,7), tp 2 -> P 1/2, R 2/3, F1 4/7
// negative: support 3, predicted 2 (3,4),     tp 1 -> P 1/2, R 1/3, F1 2/5
// weighted F1 = (3 * 4/7 + 3 * 2/5) / 6 = 17/35
TEST(SentimentMetrics, HandExampleExcludesZeros) {
  const std::vector<double> truth = {1.5, -0.5, 0.0, 2.0, -1.0, 0.0, 3.0, -2.0};
  const std::vector<double> predicted = {0.3, 0.2, 1.0, -0.1, 0.0, -3.0, 1.0, 0.5};
  auto m = sentiment_metrics(predicted, truth);
  EXPECT_EQ(m.evaluated, 6);
  EXPECT_NEAR(m.accuracy, 0.5, 1e-12);
  EXPECT_NEAR(m.weighted_f1, 17.0 / 35.0, 1e-12);
  auto t = sentiment_metrics(torch::tensor(predicted).to(torch::kFloat),
                             torch::tensor(truth).to(torch::kFloat));
  EXPECT_EQ(t.evaluated, 6);
  EXPECT_NEAR(t.accuracy, 0.5, 1e-12);
  EXPECT_NEAR(t.weighted_f1, 17.0 / 35.0, 1e-12);
}

TEST(SentimentMetrics, AllZeroTruthEvaluatesNothing) {
  auto m = sentiment_metrics(std::vector<double>{1.0, -1.0}, std::vector<double>{0.0, 0.0});
  EXPECT_EQ(m.evaluated, 0);
  EXPECT_EQ(m.accuracy, 0.0);
  EXPECT_EQ(m.weighted_f1, 0.0);
  EXPECT_THROW(sentiment_metrics(std::vector<double>{1.0}, std::vector<double>{}), Error);
}

// Regression, by hand: p = (1, 2, 3), y = (2, 2, 4).
//   mean p = 2, mean y = 8/3; var p = 2/3, var y = 8/9; cov = 2/3
//   CCC = 2 cov / (var p + var y + (mean p - mean y)^2) = (4/3) / (6/9 + 8/9 + 4/9) = 2/3
//   r = cov / sqrt(var p var y) = (2/3) / sqrt(16/27) = sqrt(3)/2
//   MSE = (1 + 0 + 1) / 3 = 2/3
// Second target: a perfect prediction (CCC = r = 1, MSE 0).
TEST(RegressionMetrics, HandExample) {
  auto p = torch::tensor({{1.0, 5.0}, {2.0, 6.0}, {3.0, 7.0}});
  auto y = torch::tensor({{2.0, 5.0}, {2.0, 6.0}, {4.0, 7.0}});
  auto m = regression_metrics(p, y);
  ASSERT_EQ(m.ccc.size(), 2u);
  EXPECT_NEAR(m.ccc[0], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.pearson[0], std::sqrt(3.0) / 2.0, 1e-12);
  EXPECT_NEAR(m.mse[0], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.ccc[1], 1.0, 1e-12);
  EXPECT_NEAR(m.pearson[1], 1.0, 1e-12);
  EXPECT_NEAR(m.mse[1], 0.0, 1e-12);
  EXPECT_NEAR(m.mean_ccc, (2.0 / 3.0 + 1.0) / 2.0, 1e-12);
}

TEST(RegressionMetrics, ShiftedPredictionsLoseConcordanceNotCorrelation) {
  // p = y + 1: r = 1, but CCC = 2 var / (2 var + 1) < 1 (var y = 2/3 -> CCC = 4/7).
  auto y = torch::tensor({1.0, 2.0, 3.0}).view({3, 1});
  auto m = regression_metrics(y + 1.0, y);
  EXPECT_NEAR(m.pearson[0], 1.0, 1e-12);
  EXPECT_NEAR(m.ccc[0], 4.0 / 7.0, 1e-12);
  EXPECT_NEAR(m.mse[0], 1.0, 1e-12);
}

TEST(RegressionMetrics, ConstantPredictionsGiveZeroNotNaN) {
  auto m = regression_metrics(torch::full({4, 1}, 3.0), torch::tensor({1.0, 2.0, 3.0, 4.0}).view({4, 1}));
  EXPECT_EQ(m.pearson[0], 0.0);
  EXPECT_EQ(m.ccc[0], 0.0);
}

TEST(RegressionMetrics, RejectsMismatchedShapes) {
  EXPECT_THROW(regression_metrics(torch::zeros({3, 2}), torch::zeros({3, 3})), Error);
  EXPECT_THROW(regression_metrics(torch::zeros({0, 2}), torch::zeros({0, 2})), Error);
}

}  // namespace
}  // namespace hardy
