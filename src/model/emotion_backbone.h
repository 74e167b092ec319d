// What the teacher and the student share (docs/algorithm.md §1.1, §3.1): modality encoders,
// per-modality heads, the joint residual head and the reconstruction decoder. The
// teacher adds the cross-modal MI estimator on top; the student is this alone.
#pragma once

#include "model/batch.h"
#include "model/joint_head.h"
#include "model/multimodal_encoder.h"
#include "model/options.h"
#include "model/reconstruction_decoder.h"

#include <torch/torch.h>


namespace hardy {

struct BackboneOutput {
  PerModality<torch::Tensor> z;                // [B, T, h] per modality
  PerModality<torch::Tensor> modality_logits;  // [B, T, outputs] per modality
  torch::Tensor joint_logits;                  // [B, T, outputs]
  PerModality<torch::Tensor> reconstruction;   // [B, T, D_m] per modality
};

class EmotionBackboneImpl : public torch::nn::Module {
 public:
  explicit EmotionBackboneImpl(const ModelOptions& options);
  BackboneOutput forward(const SequenceBatch& batch);

 private:
  MultimodalEncoder encoder{nullptr};
  PerModality<torch::nn::Linear> modality_heads;
  JointHead joint_head{nullptr};
  ReconstructionDecoder decoder{nullptr};
};
TORCH_MODULE(EmotionBackbone);

}  // namespace hardy
