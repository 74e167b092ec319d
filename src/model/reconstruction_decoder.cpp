#include "model/reconstruction_decoder.h"

namespace hardy {

namespace nn = torch::nn;

ReconstructionDecoderImpl::ReconstructionDecoderImpl(std::int64_t input_width,
                                                     std::int64_t hidden,
                                                     const std::array<std::int64_t, 3>& dims)
    : dims_(dims) {
  hidden_layer = register_module("hidden", nn::Linear(input_width, hidden));
  output_layer = register_module("output", nn::Linear(hidden, dims[0] + dims[1] + dims[2]));
}

std::array<torch::Tensor, 3> ReconstructionDecoderImpl::forward(const torch::Tensor& u) {
  auto parts = output_layer(torch::relu(hidden_layer(u))).split_with_sizes(dims_, /*dim=*/-1);
  return {parts[0], parts[1], parts[2]};
}

}  // namespace hardy
