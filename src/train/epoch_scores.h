// One evaluated student epoch: what the training loop records per epoch, what a
// checkpoint carries as history, and what the report selects epochs from.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace hardy {

// "primary"/"secondary" = WA/UA for classification, Acc/F1 for sentiment, and the
// means over the targets of CCC / Pearson's r for regression.
// NaN = not evaluated (e.g. no valid split).
struct EpochScores {
  std::int64_t epoch = 0;
  double valid_primary = NAN, valid_secondary = NAN, test_primary = NAN, test_secondary = NAN;
  // Classification only (NaN / empty otherwise): macro-F1 on valid and test, weighted
  // F1 on test, and the test confusion matrix, classes × classes, [true][predicted].
  double valid_macro_f1 = NAN, test_macro_f1 = NAN, test_weighted_f1 = NAN;
  std::vector<std::int64_t> test_confusion;
  // Regression only (empty otherwise): per target, on test, CCC, Pearson's r and MSE.
  std::vector<double> test_ccc, test_pearson, test_mse;
  // Classification with test hardness: test accuracy per hardness quintile (easiest
  // first; empty otherwise).
  std::vector<double> test_quintile_accuracy;
};

}  // namespace hardy
