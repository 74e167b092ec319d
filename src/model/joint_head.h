// The joint head over the concatenated modality representations (docs/algorithm.md §1.1, §3.1):
// a residual ReLU projection, dropout, and the classification / regression layer.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>

namespace hardy {

struct JointHeadOutput {
  torch::Tensor joint;   // u = c + ReLU(W c + b), [..., 3h]: input of the reconstruction decoder
  torch::Tensor logits;  // [..., outputs]
};

// [z^a; z^t; z^v] along the feature dimension: the joint head's input c.
inline torch::Tensor concat_modalities(const std::array<torch::Tensor, 3>& z) {
  return torch::cat({z[0], z[1], z[2]}, /*dim=*/-1);
}

class JointHeadImpl : public torch::nn::Module {
 public:
  // `width` = 3h (the concatenation's width).
  JointHeadImpl(std::int64_t width, std::int64_t outputs, double dropout);

  // c: [..., 3h], the concatenation [z^a; z^t; z^v].
  JointHeadOutput forward(const torch::Tensor& c);

 private:
  torch::nn::Linear residual{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear classify{nullptr};
};
TORCH_MODULE(JointHead);

}  // namespace hardy
