// The reconstruction decoder (docs/algorithm.md §1.1): from the joint representation u back
// to the three input features, used for L_rec and the direct hardness Hd.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>

namespace hardy {

class ReconstructionDecoderImpl : public torch::nn::Module {
 public:
  // Linear(input_width -> hidden), ReLU, Linear(hidden -> D_a + D_t + D_v).
  ReconstructionDecoderImpl(std::int64_t input_width, std::int64_t hidden,
                            const std::array<std::int64_t, 3>& dims);

  // u: [..., 3h]. Returns x̂^m [..., D_m] for m = audio, text, visual.
  std::array<torch::Tensor, 3> forward(const torch::Tensor& u);

 private:
  std::array<std::int64_t, 3> dims_;
  torch::nn::Linear hidden_layer{nullptr};
  torch::nn::Linear output_layer{nullptr};
};
TORCH_MODULE(ReconstructionDecoder);

}  // namespace hardy
