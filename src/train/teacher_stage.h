// §1 the hardness teacher (docs/algorithm.md).
#pragma once

#include "model/teacher_net.h"
#include "train/fold_context.h"
#include <array>
#include <string>

namespace hardy {

// §1 teacher training (stage 1 complete modalities, stage 2 condition inputs), one
// checkpoint per epoch at `checkpoint` so an interrupted run resumes.
TeacherNet train_teacher(const FoldContext& ctx, const PerModality<torch::Tensor>& features,
                         const std::string& checkpoint);

}  // namespace hardy
