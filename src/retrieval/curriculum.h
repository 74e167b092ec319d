// The retrieval-based dynamic curriculum of docs/algorithm.md §2: for each training
// sample q under condition c, the union of its top-(K+1) neighbours in every
// available modality (q itself removed), ranked by integrated distance, cut to the
// hardness-aware size K_q of eq. 18.
#pragma once

#include "retrieval/retrieval_backend.h"

#include <torch/torch.h>

#include <vector>
#include <cstdint>
#include <string>

namespace hardy {

struct CurriculumOptions {
  std::int64_t top_k = 3;  // K
  std::int64_t k_min = 1;  // K_min
  bool dynamic_k = true;   // false: K_q = K for everyone (ablation "w/o hardness")
  // Queries searched per round (per rank when sharded): bounds the memory of a
  // round, which holds P × query_batch query vectors on every rank.
  std::int64_t query_batch = 4096;
};

// Eq. 18: K_q = ⌊H·(K + 1 − K_min) + K_min⌋, at most K (H → 1 would give K + 1) and
// at most `candidates`; K when dynamic_k is off (still at most `candidates`).
std::int64_t curriculum_size(double hardness, std::int64_t candidates,
                             const CurriculumOptions& options);

struct Curriculum {
  torch::Tensor query;       // int64 [Q] global ids of the training samples
  torch::Tensor hardness;    // float32 [Q]
  torch::Tensor size;        // int64 [Q] K_q
  torch::Tensor candidates;  // int64 [Q] size of the candidate union
  torch::Tensor support;     // int64 [Q, K] support ids, most similar first; -1 past K_q
  torch::Tensor distance;    // float32 [Q, K] integrated distances; +inf past K_q
  std::int64_t top_k() const { return support.defined() ? support.size(1) : 0; }
};

// Builds the curriculum of the queries [Q] (global ids) with their complete
// features query_features[m] [Q, D_m] and hardness [Q], under the condition
// `available` (modalities searched). Deterministic: ties rank by smaller id.
Curriculum build_curriculum(RetrievalBackend& backend,
                            const PerModality<torch::Tensor>& query_features,
                            const torch::Tensor& query_ids, const torch::Tensor& hardness,
                            const std::vector<bool>& available, const CurriculumOptions& options);

// Histogram of K_q: entry k = number of queries with K_q = k (k = 0..K).
std::vector<std::int64_t> curriculum_size_histogram(const Curriculum& curriculum);

}  // namespace hardy
