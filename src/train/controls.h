// Controls for ablations (docs/pipeline.md, "Controls"): variants of the method that
// keep everything but one piece of information, so a difference from the full
// method can be attributed to that piece.
//
//   hardness.permute = true           each condition's hardness scores shuffled over the
//                                     fold's training samples: the K_q histogram is the
//                                     same, only which sample gets which K_q is lost.
//   retrieval.random_supports = true  each query's K_q supports replaced by training
//                                     samples drawn at random (never the query): the same
//                                     amount of augmentation with no similarity at all.
//
// Both act on the fold's gathered (global) scores and curricula, ordered by global id,
// with generators seeded from training.seed and the condition, so the result is the
// same at any number of ranks.
#pragma once

#include "retrieval/curriculum.h"
#include "train/hardness_stage.h"

#include <cstdint>
#include <string>
#include <vector>

namespace hardy {

// `all` holds every training row (rows = global ids). Hd, Hi and H are permuted
// together, per condition, so a sample keeps a consistent (Hd, Hi, H) triple.
HardnessScores permute_hardness(const HardnessScores& all, const std::vector<std::string>& conditions,
                                std::uint64_t seed);

// `all` holds every training query (query = global ids); supports are drawn from those
// queries. Distances of the drawn supports are NaN (there is no similarity).
Curriculum random_supports(const Curriculum& all, std::uint64_t seed, const std::string& condition);

}  // namespace hardy
