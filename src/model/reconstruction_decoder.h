// The reconstruction decoder (docs/algorithm.md §1.1): from the joint representation u back
// to the three input features, used for L_rec and the direct hardness Hd.
#pragma once

#include "core/modality.h"

#include <torch/torch.h>

#include <cstdint>

namespace hardy {

class ReconstructionDecoderImpl : public torch::nn::Module {
 public:
  // Linear(input_width -> hidden), ReLU, Linear(hidden -> Σ_m D_m).
  ReconstructionDecoderImpl(std::int64_t input_width, std::int64_t hidden,
                            const std::vector<std::int64_t>& dims);

  // u: [..., M·h]. Returns x̂^m [..., D_m] for every modality, in order.
  PerModality<torch::Tensor> forward(const torch::Tensor& u);

 private:
  std::vector<std::int64_t> dims_;
  torch::nn::Linear hidden_layer{nullptr};
  torch::nn::Linear output_layer{nullptr};
};
TORCH_MODULE(ReconstructionDecoder);

}  // namespace hardy
