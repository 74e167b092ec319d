// Indirect hardness (docs/algorithm.md §1.3, eq. 4–9): mutual information between pairs of
// modality representations, estimated with entropies of feature-softmax
// distributions and pairwise cross-attention.
#pragma once

#include "model/batch.h"

#include <torch/torch.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace hardy {

// Every pair (m, n), m < n, of `modalities` modalities, m-major: the order of the MI
// tensor's last dimension. Three modalities: (a,t), (a,v), (t,v); two: (a,t).
std::vector<std::pair<int, int>> modality_pairs(int modalities);

// E(z) = -sum_k p_k log(p_k + 1e-7) with p = max(softmax(z, -1), 1e-6): the Shannon
// entropy of the softmax over the last (feature) dimension. z: [..., h] -> [...].
torch::Tensor feature_entropy(const torch::Tensor& z);

class CrossModalMIImpl : public torch::nn::Module {
 public:
  // One cross-attention per direction of each pair of `modalities` (six for three
  // modalities), width `hidden`, registered as "<m>_from_<n>" by modality code.
  CrossModalMIImpl(const ModalitySet& modalities, std::int64_t hidden, std::int64_t heads);

  // z: z^m [B, T, h] per modality; real / available as in SequenceBatch (the key mask
  // of each cross-attention is the kv modality's, see attention_mask.h).
  // Returns MI [B, T, pairs] per utterance, pairs in modality_pairs order:
  //   MI(m,n) = E(z^m) + E(z^n) - E(j^{mn}),  j^{mn} = CA(q=z^m, kv=z^n) + CA(q=z^n, kv=z^m).
  torch::Tensor forward(const PerModality<torch::Tensor>& z, const torch::Tensor& real,
                        const torch::Tensor& available);

  // j^{mn} [B, T, h] for pair index p (pairs()[p]).
  torch::Tensor joint(int pair, const PerModality<torch::Tensor>& z, const PerModality<torch::Tensor>& key_masks);
  const std::vector<std::pair<int, int>>& pairs() const { return pairs_; }

 private:
  torch::Tensor attend(int module, const torch::Tensor& query, const torch::Tensor& kv,
                       const torch::Tensor& kv_mask);

  // attention[2p] : q = z^m, kv = z^n;  attention[2p+1] : q = z^n, kv = z^m.
  std::vector<std::pair<int, int>> pairs_;
  std::vector<torch::nn::MultiheadAttention> attention;
};
TORCH_MODULE(CrossModalMI);

}  // namespace hardy
