#include "model/modality_encoder.h"

namespace hardy {

ModalityEncoderImpl::ModalityEncoderImpl(std::int64_t input_dim, const ModelOptions& options) {
  namespace nn = torch::nn;
  project = register_module("project", nn::Linear(input_dim, options.hidden));
  dropout = register_module("dropout", nn::Dropout(options.dropout));
  auto layer = nn::TransformerEncoderLayerOptions(options.hidden, options.heads)
                   .dim_feedforward(options.ff_hidden)
                   .dropout(options.dropout);
  transformer = register_module(
      "transformer", nn::TransformerEncoder(nn::TransformerEncoderOptions(layer, options.depth)));
}

torch::Tensor ModalityEncoderImpl::forward(const torch::Tensor& x, const torch::Tensor& keep,
                                           const torch::Tensor& key_padding_mask) {
  // Zero the input where the modality is absent even if the caller did not: the
  // residual connections would otherwise carry a missing modality's (or a padding
  // row's) values into that utterance's own output. masked_fill, not a product, so
  // that NaN/inf in padding cannot leak either.
  auto h = dropout(project(x.masked_fill(~keep.unsqueeze(-1), 0.0)));
  // LibTorch 1.13's Transformer is sequence-first: [T, B, h].
  h = transformer(h.transpose(0, 1), /*src_mask=*/torch::Tensor(), key_padding_mask);
  return h.transpose(0, 1);
}

}  // namespace hardy
