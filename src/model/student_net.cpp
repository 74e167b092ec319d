#include "model/student_net.h"

namespace hardy {

StudentNetImpl::StudentNetImpl(const ModelOptions& options) : options_(options) {
  backbone = register_module("backbone", EmotionBackbone(options));
}

StudentOutput StudentNetImpl::forward(const SequenceBatch& batch) {
  auto b = backbone(batch);
  return StudentOutput{b.modality_logits, b.joint_logits, b.reconstruction};
}

}  // namespace hardy
