#include "model/emotion_backbone.h"
#include "model/student_net.h"
#include "model/teacher_net.h"

namespace hardy {

namespace {
constexpr const char* kHeadNames[3] = {"audio_head", "text_head", "visual_head"};
}  // namespace

EmotionBackboneImpl::EmotionBackboneImpl(const ModelOptions& options) {
  validate(options);
  const auto joint_width = 3 * options.hidden;
  encoder = register_module("encoder", MultimodalEncoder(options));
  for (int m = 0; m < 3; ++m)
    modality_heads[m] =
        register_module(kHeadNames[m], torch::nn::Linear(options.hidden, options.outputs));
  joint_head =
      register_module("joint_head", JointHead(joint_width, options.outputs, options.dropout));
  decoder = register_module(
      "decoder", ReconstructionDecoder(joint_width, options.decoder_hidden, options.dims));
}

BackboneOutput EmotionBackboneImpl::forward(const SequenceBatch& batch) {
  BackboneOutput out;
  out.z = encoder(batch);
  for (int m = 0; m < 3; ++m) out.modality_logits[m] = modality_heads[m](out.z[m]);
  auto joint = joint_head(concat_modalities(out.z));
  out.joint_logits = joint.logits;
  out.reconstruction = decoder(joint.joint);
  return out;
}

TeacherNetImpl::TeacherNetImpl(const ModelOptions& options) : options_(options) {
  backbone = register_module("backbone", EmotionBackbone(options));
  cross_mi = register_module("cross_mi", CrossModalMI(options.hidden, options.heads));
}

TeacherOutput TeacherNetImpl::forward(const SequenceBatch& batch) {
  auto b = backbone(batch);
  TeacherOutput out{b.z, b.modality_logits, b.joint_logits, b.reconstruction, {}};
  out.mi = cross_mi(out.z, batch.real, batch.available);
  return out;
}

StudentNetImpl::StudentNetImpl(const ModelOptions& options) : options_(options) {
  backbone = register_module("backbone", EmotionBackbone(options));
}

StudentOutput StudentNetImpl::forward(const SequenceBatch& batch) {
  auto b = backbone(batch);
  return StudentOutput{b.modality_logits, b.joint_logits, b.reconstruction};
}

}  // namespace hardy
