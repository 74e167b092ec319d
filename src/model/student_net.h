// The emotion network (docs/algorithm.md §3): the teacher's architecture without the MI
// estimator; trained on complete modalities, then on curriculum views.
#pragma once

#include "model/batch.h"
#include "model/emotion_backbone.h"
#include "model/options.h"

#include <torch/torch.h>


namespace hardy {

struct StudentOutput {
  PerModality<torch::Tensor> modality_logits;    // [B, T, outputs] per modality (stage 1)
  torch::Tensor joint_logits;                    // [B, T, outputs]: the prediction
  PerModality<torch::Tensor> reconstruction;     // [B, T, D_m] per modality
};

class StudentNetImpl : public torch::nn::Module {
 public:
  explicit StudentNetImpl(const ModelOptions& options);

  StudentOutput forward(const SequenceBatch& batch);

  const ModelOptions& options() const { return options_; }

 private:
  ModelOptions options_;
  EmotionBackbone backbone{nullptr};
};
TORCH_MODULE(StudentNet);

}  // namespace hardy
