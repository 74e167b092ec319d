#include "model/teacher_net.h"

namespace hardy {

TeacherNetImpl::TeacherNetImpl(const ModelOptions& options) : options_(options) {
  backbone = register_module("backbone", EmotionBackbone(options));
  cross_mi = register_module("cross_mi", CrossModalMI(options.modalities, options.hidden, options.heads));
}

TeacherOutput TeacherNetImpl::forward(const SequenceBatch& batch) {
  auto b = backbone(batch);
  TeacherOutput out{b.z, b.modality_logits, b.joint_logits, b.reconstruction, {}};
  out.mi = cross_mi(out.z, batch.real, batch.available);
  return out;
}

}  // namespace hardy
