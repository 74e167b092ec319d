#include "model/attention_mask.h"
#include "model/cross_modal_mi.h"

#include <string>

namespace hardy {

torch::Tensor feature_entropy(const torch::Tensor& z) {
  // The clamp keeps log finite and the gradient defined where softmax underflows.
  auto p = torch::softmax(z, /*dim=*/-1).clamp_min(1e-6);
  return -(p * torch::log(p + 1e-7)).sum(/*dim=*/-1);
}

std::vector<std::pair<int, int>> modality_pairs(int modalities) {
  std::vector<std::pair<int, int>> pairs;
  for (int m = 0; m < modalities; ++m)
    for (int n = m + 1; n < modalities; ++n) pairs.emplace_back(m, n);
  return pairs;
}

CrossModalMIImpl::CrossModalMIImpl(const ModalitySet& modalities, std::int64_t hidden, std::int64_t heads)
    : pairs_(modality_pairs(modalities.size())) {
  const auto& kNames = modalities.codes();
  for (const auto& [m, n] : pairs_) {
    // No attention dropout: MI is a measurement, and the teacher's MI is read in eval
    // mode anyway; dropout would only add noise to L_MI during training.
    auto options = torch::nn::MultiheadAttentionOptions(hidden, heads).dropout(0.0);
    attention.push_back(register_module(std::string(1, kNames[static_cast<std::size_t>(m)]) + "_from_" +
                                            kNames[static_cast<std::size_t>(n)],
                                        torch::nn::MultiheadAttention(options)));
    attention.push_back(register_module(std::string(1, kNames[static_cast<std::size_t>(n)]) + "_from_" +
                                            kNames[static_cast<std::size_t>(m)],
                                        torch::nn::MultiheadAttention(options)));
  }
}

torch::Tensor CrossModalMIImpl::attend(int module, const torch::Tensor& query,
                                       const torch::Tensor& kv, const torch::Tensor& kv_mask) {
  // MultiheadAttention is sequence-first ([T, B, h]) in LibTorch 1.13.
  auto q = query.transpose(0, 1), k = kv.transpose(0, 1);
  auto out = std::get<0>(attention[module](q, k, k, kv_mask, /*need_weights=*/false));
  return out.transpose(0, 1);
}

torch::Tensor CrossModalMIImpl::joint(int pair, const PerModality<torch::Tensor>& z,
                                      const PerModality<torch::Tensor>& key_masks) {
  const auto m = static_cast<std::size_t>(pairs_.at(static_cast<std::size_t>(pair)).first);
  const auto n = static_cast<std::size_t>(pairs_.at(static_cast<std::size_t>(pair)).second);
  return attend(2 * pair, z[m], z[n], key_masks[n]) +
         attend(2 * pair + 1, z[n], z[m], key_masks[m]);
}

torch::Tensor CrossModalMIImpl::forward(const PerModality<torch::Tensor>& z,
                                        const torch::Tensor& real,
                                        const torch::Tensor& available) {
  PerModality<torch::Tensor> masks, entropy;
  for (std::size_t m = 0; m < z.size(); ++m) {
    masks.push_back(modality_key_padding_mask(real, available, static_cast<int>(m)));
    entropy.push_back(feature_entropy(z[m]));
  }
  std::vector<torch::Tensor> mi;
  for (std::size_t p = 0; p < pairs_.size(); ++p) {
    const auto [m, n] = pairs_[p];
    mi.push_back(entropy[static_cast<std::size_t>(m)] + entropy[static_cast<std::size_t>(n)] -
                 feature_entropy(joint(static_cast<int>(p), z, masks)));
  }
  return torch::stack(mi, /*dim=*/-1);
}

}  // namespace hardy
