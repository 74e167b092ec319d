// The unified hardness score of docs/algorithm.md §1.4 (eq. 10):
//   H = σ(γ · (α · Ĥd + β · Ĥi))            (default)
//   H = σ(γ · (α · Ĥd + β · Ĥi − (α+β)/2))  (hardness.centered)
// with Ĥ the min–max normalisation of the raw direct (Hd) and indirect (Hi) scores.
// The min/max come from a HardnessRange, so the caller picks the scope: the whole
// training set (merged over ranks) or one batch.
#pragma once

#include <torch/torch.h>

#include <limits>

namespace hardy {

struct HardnessOptions {
  double alpha = 0.6;
  double beta = 0.4;
  double gamma = 4.0;
  bool use_direct = true;    // false: ablation "w/o Hd" (α term dropped)
  bool use_indirect = true;  // false: ablation "w/o Hi" (β term dropped)
  bool centered = false;
};

struct HardnessRange {
  double direct_min = std::numeric_limits<double>::infinity();
  double direct_max = -std::numeric_limits<double>::infinity();
  double indirect_min = std::numeric_limits<double>::infinity();
  double indirect_max = -std::numeric_limits<double>::infinity();

  // Widens the range to cover these raw scores (1-D, same length).
  void include(const torch::Tensor& direct, const torch::Tensor& indirect);
  void merge(const HardnessRange& other);
  // [-direct_min, direct_max, -indirect_min, indirect_max]: one max-allreduce merges ranks.
  torch::Tensor to_max_tensor() const;
  static HardnessRange from_max_tensor(const torch::Tensor& t);
};

// (x − lo) / (hi − lo); all zeros when hi <= lo (every score equal).
torch::Tensor min_max_normalise(const torch::Tensor& x, double lo, double hi);

// H for raw scores `direct`, `indirect` (1-D float tensors) under `range`.
torch::Tensor unified_hardness(const torch::Tensor& direct, const torch::Tensor& indirect,
                               const HardnessRange& range, const HardnessOptions& options);

// Accuracy by hardness: the quintile (0 = easiest ... 4 = hardest) of each of `ids`
// (global ids) by `h` ascending, ties by id, as int64 [rows] indexed by global id, -1
// for the ids not given.
constexpr int kHardnessQuintiles = 5;
torch::Tensor hardness_quintiles(const torch::Tensor& ids, const torch::Tensor& h, std::int64_t rows);

// hardness.normalization = "rank": the fraction of `population` (1-D, every rank's
// training scores) at or below each of `values` (float64), in (0, 1]. Ties share the
// larger quantile, so it depends only on the multiset of scores: exact at any number
// of ranks.
torch::Tensor rank_quantile(const torch::Tensor& values, const torch::Tensor& population);

// H under rank normalisation, for this rank's raw scores and every rank's: Ĥd and Ĥi
// are rank quantiles, and H the rank quantile of α·Ĥd + β·Ĥi (the terms the options
// keep) over the population's, so H is spread evenly over (0, 1] and K_q over
// K_min..K. γ and centering do not apply.
torch::Tensor rank_unified_hardness(const torch::Tensor& direct, const torch::Tensor& indirect,
                                    const torch::Tensor& all_direct, const torch::Tensor& all_indirect,
                                    const HardnessOptions& options);

}  // namespace hardy
