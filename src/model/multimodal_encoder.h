// One encoder per modality, side by side: a batch in, z^m per modality out.
#pragma once

#include "model/batch.h"
#include "model/modality_encoder.h"
#include "model/options.h"

#include <torch/torch.h>


namespace hardy {

class MultimodalEncoderImpl : public torch::nn::Module {
 public:
  explicit MultimodalEncoderImpl(const ModelOptions& options);

  // Returns z^m [B, T, h] for each modality, in order; each encoder masks padding
  // and its modality's missing utterances out of attention (attention_mask.h).
  PerModality<torch::Tensor> forward(const SequenceBatch& batch);

  const ModelOptions& options() const { return options_; }

 private:
  ModelOptions options_;
  PerModality<ModalityEncoder> encoders;
};
TORCH_MODULE(MultimodalEncoder);

}  // namespace hardy
