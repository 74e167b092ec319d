// Spearman rank correlation: how well the learned hardness H orders the samples
// against the hardness planted in a synthetic corpus (the report's diagnostic).
#pragma once

#include <torch/torch.h>

namespace hardy {

// Spearman rank correlation of two 1-D tensors of equal length (average ranks for
// ties); NaN with fewer than 2 values, a constant input or a NaN value. hardy::Error
// when the shapes differ.
double spearman(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace hardy
