#include "model/multimodal_encoder.h"

#include "core/modality.h"
#include "model/attention_mask.h"

namespace hardy {

MultimodalEncoderImpl::MultimodalEncoderImpl(const ModelOptions& options) : options_(options) {
  validate(options);
  for (int m = 0; m < modality_count(options); ++m)
    encoders.push_back(register_module(options.modalities.name(m),
                                       ModalityEncoder(options.dims[static_cast<std::size_t>(m)], options)));
}

PerModality<torch::Tensor> MultimodalEncoderImpl::forward(const SequenceBatch& batch) {
  check_batch(batch, options_);
  PerModality<torch::Tensor> z;
  for (int m = 0; m < modality_count(options_); ++m) {
    const auto i = static_cast<std::size_t>(m);
    auto keep = batch.real & batch.available.select(-1, m);
    z.push_back(encoders[i](batch.x[i], keep, modality_key_padding_mask(batch.real, batch.available, m)));
  }
  return z;
}

}  // namespace hardy
