#include "model/multimodal_encoder.h"

#include "core/modality.h"
#include "model/attention_mask.h"

namespace hardy {

MultimodalEncoderImpl::MultimodalEncoderImpl(const ModelOptions& options) : options_(options) {
  validate(options);
  for (int m = 0; m < 3; ++m)
    encoders[m] = register_module(ModalitySet::standard().name(m), ModalityEncoder(options.dims[m], options));
}

std::array<torch::Tensor, 3> MultimodalEncoderImpl::forward(const SequenceBatch& batch) {
  check_batch(batch, options_.dims);
  std::array<torch::Tensor, 3> z;
  for (int m = 0; m < 3; ++m) {
    auto keep = batch.real & batch.available.select(-1, m);
    z[m] = encoders[m](batch.x[m], keep,
                       modality_key_padding_mask(batch.real, batch.available, m));
  }
  return z;
}

}  // namespace hardy
