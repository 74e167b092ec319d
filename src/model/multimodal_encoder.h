// The three modality encoders side by side: a batch in, z^a, z^t, z^v out.
#pragma once

#include "model/batch.h"
#include "model/modality_encoder.h"
#include "model/options.h"

#include <torch/torch.h>

#include <array>

namespace hardy {

class MultimodalEncoderImpl : public torch::nn::Module {
 public:
  explicit MultimodalEncoderImpl(const ModelOptions& options);

  // Returns z^m [B, T, h] for m = audio, text, visual; each encoder masks padding
  // and its modality's missing utterances out of attention (attention_mask.h).
  std::array<torch::Tensor, 3> forward(const SequenceBatch& batch);

  const ModelOptions& options() const { return options_; }

 private:
  ModelOptions options_;
  std::array<ModalityEncoder, 3> encoders{nullptr, nullptr, nullptr};
};
TORCH_MODULE(MultimodalEncoder);

}  // namespace hardy
