#include "model/reconstruction_decoder.h"

namespace hardy {

namespace nn = torch::nn;

ReconstructionDecoderImpl::ReconstructionDecoderImpl(std::int64_t input_width,
                                                     std::int64_t hidden,
                                                     const std::vector<std::int64_t>& dims)
    : dims_(dims) {
  hidden_layer = register_module("hidden", nn::Linear(input_width, hidden));
  std::int64_t total = 0;
  for (auto d : dims) total += d;
  output_layer = register_module("output", nn::Linear(hidden, total));
}

PerModality<torch::Tensor> ReconstructionDecoderImpl::forward(const torch::Tensor& u) {
  return output_layer(torch::relu(hidden_layer(u))).split_with_sizes(dims_, /*dim=*/-1);
}

}  // namespace hardy
