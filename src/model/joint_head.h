// The joint head over the concatenated modality representations (docs/algorithm.md §1.1, §3.1):
// a residual ReLU projection, dropout, and the classification / regression layer.
#pragma once

#include "core/modality.h"

#include <torch/torch.h>

#include <cstdint>

namespace hardy {

struct JointHeadOutput {
  torch::Tensor joint;   // u = c + ReLU(W c + b), [..., M·h]: input of the reconstruction decoder
  torch::Tensor logits;  // [..., outputs]
};

// [z^a; z^t; z^v] (every modality's z, in order) along the feature dimension: the
// joint head's input c.
inline torch::Tensor concat_modalities(const PerModality<torch::Tensor>& z) {
  return torch::cat(z, /*dim=*/-1);
}

class JointHeadImpl : public torch::nn::Module {
 public:
  // `width` = M·h (the concatenation's width).
  JointHeadImpl(std::int64_t width, std::int64_t outputs, double dropout);

  // c: [..., M·h], the concatenation [z^a; z^t; z^v] (every modality).
  JointHeadOutput forward(const torch::Tensor& c);

 private:
  torch::nn::Linear residual{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear classify{nullptr};
};
TORCH_MODULE(JointHead);

}  // namespace hardy
