// One modality's encoder (docs/algorithm.md §1.1): input projection + dropout, then a
// Transformer encoder over the utterances of each sequence.
#pragma once

#include "model/options.h"

#include <torch/torch.h>

namespace hardy {

class ModalityEncoderImpl : public torch::nn::Module {
 public:
  // `input_dim` = D_m; hidden, depth, heads, ff_hidden and dropout come from options.
  ModalityEncoderImpl(std::int64_t input_dim, const ModelOptions& options);

  // x: [B, T, D_m]; keep: [B, T] bool, true where this modality of a real utterance
  // is present; key_padding_mask: [B, T] bool (modality_key_padding_mask). Returns z^m
  // [B, T, h].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& keep,
                        const torch::Tensor& key_padding_mask);

 private:
  torch::nn::Linear project{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::TransformerEncoder transformer{nullptr};
};
TORCH_MODULE(ModalityEncoder);

}  // namespace hardy
