#include "model/attention_mask.h"
#include "model/cross_modal_mi.h"

#include <string>

namespace hardy {

torch::Tensor feature_entropy(const torch::Tensor& z) {
  // The clamp keeps log finite and the gradient defined where softmax underflows.
  auto p = torch::softmax(z, /*dim=*/-1).clamp_min(1e-6);
  return -(p * torch::log(p + 1e-7)).sum(/*dim=*/-1);
}

CrossModalMIImpl::CrossModalMIImpl(std::int64_t hidden, std::int64_t heads) {
  static constexpr const char* kNames = "atv";
  for (int p = 0; p < 3; ++p) {
    auto [m, n] = kModalityPairs[p];
    // No attention dropout: MI is a measurement, and the teacher's MI is read in eval
    // mode anyway; dropout would only add noise to L_MI during training.
    auto options = torch::nn::MultiheadAttentionOptions(hidden, heads).dropout(0.0);
    attention[2 * p] = register_module(std::string(1, kNames[m]) + "_from_" + kNames[n],
                                       torch::nn::MultiheadAttention(options));
    attention[2 * p + 1] = register_module(std::string(1, kNames[n]) + "_from_" + kNames[m],
                                           torch::nn::MultiheadAttention(options));
  }
}

torch::Tensor CrossModalMIImpl::attend(int module, const torch::Tensor& query,
                                       const torch::Tensor& kv, const torch::Tensor& kv_mask) {
  // MultiheadAttention is sequence-first ([T, B, h]) in LibTorch 1.13.
  auto q = query.transpose(0, 1), k = kv.transpose(0, 1);
  auto out = std::get<0>(attention[module](q, k, k, kv_mask, /*need_weights=*/false));
  return out.transpose(0, 1);
}

torch::Tensor CrossModalMIImpl::joint(int pair, const std::array<torch::Tensor, 3>& z,
                                      const std::array<torch::Tensor, 3>& key_masks) {
  auto [m, n] = kModalityPairs[pair];
  return attend(2 * pair, z[m], z[n], key_masks[n]) +
         attend(2 * pair + 1, z[n], z[m], key_masks[m]);
}

torch::Tensor CrossModalMIImpl::forward(const std::array<torch::Tensor, 3>& z,
                                        const torch::Tensor& real,
                                        const torch::Tensor& available) {
  std::array<torch::Tensor, 3> masks, entropy;
  for (int m = 0; m < 3; ++m) {
    masks[m] = modality_key_padding_mask(real, available, m);
    entropy[m] = feature_entropy(z[m]);
  }
  std::array<torch::Tensor, 3> mi;
  for (int p = 0; p < 3; ++p) {
    auto [m, n] = kModalityPairs[p];
    mi[p] = entropy[m] + entropy[n] - feature_entropy(joint(p, z, masks));
  }
  return torch::stack({mi[0], mi[1], mi[2]}, /*dim=*/-1);
}

}  // namespace hardy
