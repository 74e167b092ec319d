#include "core/error.h"
#include "model/feature_net.h"
#include "model/joint_head.h"
#include "model/reconstruction_decoder.h"

namespace hardy {

namespace nn = torch::nn;

JointHeadImpl::JointHeadImpl(std::int64_t width, std::int64_t outputs, double dropout_p) {
  residual = register_module("residual", nn::Linear(width, width));
  dropout = register_module("dropout", nn::Dropout(dropout_p));
  classify = register_module("classify", nn::Linear(width, outputs));
}

JointHeadOutput JointHeadImpl::forward(const torch::Tensor& c) {
  // The residual keeps every modality's representation reachable by the classifier
  // while the projection mixes them.
  auto u = c + torch::relu(residual(c));
  return {u, classify(dropout(u))};
}

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

FeatureNetImpl::FeatureNetImpl(std::int64_t dim, std::int64_t outputs) {
  HARDY_THROW_IF_NOT_MSG(dim > 0 && outputs > 0,
                         "FeatureNet needs a positive feature width and output count, got "
                         "{} and {}",
                         dim, outputs);
  first = register_module("first", nn::Linear(dim, dim));
  second = register_module("second", nn::Linear(dim, dim));
  head = register_module("head", nn::Linear(dim, outputs));
}

FeatureNetOutput FeatureNetImpl::forward(const torch::Tensor& x) {
  auto feature = second(torch::relu(first(x)));
  return {feature, head(feature)};
}

}  // namespace hardy
