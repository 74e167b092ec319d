// §1 hardness scoring with the trained teacher (docs/algorithm.md, eq. 10).
#pragma once

#include "model/teacher_net.h"
#include "train/fold_context.h"
#include <array>
#include <map>
#include <string>

namespace hardy {

// Raw and unified hardness of every training utterance (of this rank, when sharded)
// under each condition. With hardness.normalization = "dataset" the min–max range
// spans the training rows of all ranks.
struct HardnessScores {
  torch::Tensor rows;                            // int64 [n]: training rows of the row table
  std::map<std::string, torch::Tensor> direct;   // per condition, float32 [n]: Hd
  std::map<std::string, torch::Tensor> indirect; // Hi
  std::map<std::string, torch::Tensor> unified;  // H (eq. 10)
};
HardnessScores score_hardness(const FoldContext& ctx, TeacherNet& teacher,
                              const PerModality<torch::Tensor>& features);
// The same for the utterances of `set` (e.g. ctx.test, for accuracy by hardness):
// eq. 10 with the normalisation over `set` (all ranks'); `what` names it in the log.
HardnessScores score_hardness(const FoldContext& ctx, TeacherNet& teacher, const PerModality<torch::Tensor>& features,
                              const SequenceSet& set, const std::string& what);

}  // namespace hardy
