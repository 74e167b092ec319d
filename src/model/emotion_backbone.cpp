#include "model/emotion_backbone.h"

#include "core/modality.h"

namespace hardy {

EmotionBackboneImpl::EmotionBackboneImpl(const ModelOptions& options) {
  validate(options);
  const auto joint_width = modality_count(options) * options.hidden;
  encoder = register_module("encoder", MultimodalEncoder(options));
  for (int m = 0; m < modality_count(options); ++m)
    modality_heads.push_back(
        register_module(options.modalities.name(m) + "_head", torch::nn::Linear(options.hidden, options.outputs)));
  joint_head =
      register_module("joint_head", JointHead(joint_width, options.outputs, options.dropout));
  decoder = register_module(
      "decoder", ReconstructionDecoder(joint_width, options.decoder_hidden, options.dims));
}

BackboneOutput EmotionBackboneImpl::forward(const SequenceBatch& batch) {
  BackboneOutput out;
  out.z = encoder(batch);
  for (std::size_t m = 0; m < out.z.size(); ++m) out.modality_logits.push_back(modality_heads[m](out.z[m]));
  auto joint = joint_head(concat_modalities(out.z));
  out.joint_logits = joint.logits;
  out.reconstruction = decoder(joint.joint);
  return out;
}

}  // namespace hardy
