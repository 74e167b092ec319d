// Intervals for ablation differences when folds share training data and seeds share
// folds (issue 17): seed x fold pairs are not independent, so the fold is the unit.
//
// Every function takes per-run values laid out [fold][seed]: values[f][s] is the
// metric (or the difference of a row against `full`) of fold f trained with the s-th
// seed. Every fold must have the same number of seeds.
#pragma once

#include <cstdint>
#include <vector>

namespace hardy {

using FoldSeedValues = std::vector<std::vector<double>>;  // [fold][seed]

struct Interval {
  double estimate = 0;  // the mean over folds of the per-fold means over seeds
  double low = 0;
  double high = 0;
  bool excludes(double value) const { return value < low || value > high; }
};

// Mean and sample standard deviation over every (fold, seed) value (the table's
// "mean ± std"; std is 0 for a single value).
struct MeanStd {
  double mean = 0;
  double std = 0;
};
MeanStd mean_std(const FoldSeedValues& values);

// The t-interval with the fold as the unit: each fold's values are averaged over its
// seeds, and the interval is mean ± t(level, F - 1) · sd / sqrt(F) over those F fold
// means. Needs at least 2 folds (hardy::Error otherwise).
Interval fold_t_interval(const FoldSeedValues& values, double level = 0.95);

// The hierarchical bootstrap (a second opinion): each resample draws F folds with
// replacement, then, inside each drawn fold, S seeds with replacement, and takes the
// mean; the interval is the resamples' percentile interval. Deterministic for a seed.
Interval hierarchical_bootstrap(const FoldSeedValues& values, int resamples = 10000, double level = 0.95,
                                std::uint64_t seed = 0);

// How many folds (each averaged over the same seeds as `values`) a fold-unit
// t-test at `level` needs to detect a true difference `effect` with probability
// `power`, given the fold means' standard deviation measured in `values` (normal
// approximation, iterated for the t quantile). 0 when that deviation is 0.
int folds_to_detect(const FoldSeedValues& values, double effect, double level = 0.95, double power = 0.8);

}  // namespace hardy
