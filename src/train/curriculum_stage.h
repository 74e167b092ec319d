// §2 the retrieval-based curricula of one fold (docs/algorithm.md, eq. 18).
#pragma once

#include "retrieval/curriculum.h"
#include "train/fold_context.h"
#include "train/hardness_stage.h"
#include <array>
#include <map>
#include <string>

namespace hardy {

// §2 curricula, one per condition, over the fold's training rows. Queries and
// supports are global ids. Sharded: a collective; the feature database is split
// over the ranks and each rank gets the curricula of its own training rows.
std::map<std::string, Curriculum> build_curricula(const FoldContext& ctx,
                                                  const PerModality<torch::Tensor>& features,
                                                  const HardnessScores& hardness);

}  // namespace hardy
