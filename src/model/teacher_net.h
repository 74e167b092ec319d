// The hardness network (docs/algorithm.md §1): it is trained to classify and to
// reconstruct missing modalities, and afterwards read (frozen, eval mode) for the
// direct hardness (reconstruction error) and the indirect hardness (pairwise MI).
#pragma once

#include "model/batch.h"
#include "model/cross_modal_mi.h"
#include "model/emotion_backbone.h"
#include "model/options.h"

#include <torch/torch.h>


namespace hardy {

struct TeacherOutput {
  PerModality<torch::Tensor> z;                 // [B, T, h] per modality
  PerModality<torch::Tensor> modality_logits;    // [B, T, outputs] per modality (stage 1)
  torch::Tensor joint_logits;                    // [B, T, outputs] (stage 2)
  PerModality<torch::Tensor> reconstruction;     // [B, T, D_m] per modality
  torch::Tensor mi;                              // [B, T, pairs]: MI(a,t), MI(a,v), MI(t,v) for three
};

class TeacherNetImpl : public torch::nn::Module {
 public:
  explicit TeacherNetImpl(const ModelOptions& options);

  TeacherOutput forward(const SequenceBatch& batch);

  const ModelOptions& options() const { return options_; }

 private:
  ModelOptions options_;
  EmotionBackbone backbone{nullptr};
  CrossModalMI cross_mi{nullptr};
};
TORCH_MODULE(TeacherNet);

}  // namespace hardy
