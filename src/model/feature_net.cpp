#include "model/feature_net.h"

#include "core/error.h"

namespace hardy {

namespace nn = torch::nn;

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
