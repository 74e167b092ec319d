// Indirect hardness (docs/algorithm.md §1.3, eq. 4–9): mutual information between pairs of
// modality representations, estimated with entropies of feature-softmax
// distributions and pairwise cross-attention.
#pragma once

#include "model/batch.h"

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <utility>

namespace hardy {

// Pairs in the order of the MI tensor's last dimension: (a,t), (a,v), (t,v).
constexpr std::array<std::pair<int, int>, 3> kModalityPairs = {{{0, 1}, {0, 2}, {1, 2}}};

// E(z) = -sum_k p_k log(p_k + 1e-7) with p = max(softmax(z, -1), 1e-6): the Shannon
// entropy of the softmax over the last (feature) dimension. z: [..., h] -> [...].
torch::Tensor feature_entropy(const torch::Tensor& z);

class CrossModalMIImpl : public torch::nn::Module {
 public:
  // One cross-attention per direction of each pair (six in all), width `hidden`.
  CrossModalMIImpl(std::int64_t hidden, std::int64_t heads);

  // z: z^a, z^t, z^v [B, T, h]; real / available as in SequenceBatch (the key mask of
  // each cross-attention is the kv modality's, see attention_mask.h).
  // Returns MI [B, T, 3] per utterance, pairs in kModalityPairs order:
  //   MI(m,n) = E(z^m) + E(z^n) - E(j^{mn}),  j^{mn} = CA(q=z^m, kv=z^n) + CA(q=z^n, kv=z^m).
  torch::Tensor forward(const std::array<torch::Tensor, 3>& z, const torch::Tensor& real,
                        const torch::Tensor& available);

  // j^{mn} [B, T, h] for pair index p (kModalityPairs[p]).
  torch::Tensor joint(int pair, const std::array<torch::Tensor, 3>& z,
                      const std::array<torch::Tensor, 3>& key_masks);

 private:
  torch::Tensor attend(int module, const torch::Tensor& query, const torch::Tensor& kv,
                       const torch::Tensor& kv_mask);

  // attention[2p] : q = z^m, kv = z^n;  attention[2p+1] : q = z^n, kv = z^m.
  std::array<torch::nn::MultiheadAttention, 6> attention{nullptr, nullptr, nullptr,
                                                         nullptr, nullptr, nullptr};
};
TORCH_MODULE(CrossModalMI);

}  // namespace hardy
