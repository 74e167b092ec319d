// Per-modality feature refinement (docs/algorithm.md §0): two linear layers whose output
// (same width as the input) is the refined feature, plus a classification head that
// fine-tunes them with cross-entropy on the emotion label.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace hardy {

struct FeatureNetOutput {
  torch::Tensor feature;  // [N, D]: the refined feature (model input and retrieval key)
  torch::Tensor logits;   // [N, outputs]
};

class FeatureNetImpl : public torch::nn::Module {
 public:
  FeatureNetImpl(std::int64_t dim, std::int64_t outputs);

  // x: [N, D] (any leading dimensions work).
  FeatureNetOutput forward(const torch::Tensor& x);

 private:
  torch::nn::Linear first{nullptr};
  torch::nn::Linear second{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(FeatureNet);

}  // namespace hardy
