#include "model/joint_head.h"

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

}  // namespace hardy
