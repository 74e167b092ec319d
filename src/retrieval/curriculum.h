// The retrieval-based dynamic curriculum of docs/algorithm.md §2: for each training
// sample q under condition c, the union of its top-(K+1) neighbours in every
// available modality (q itself removed), ranked by integrated distance, cut to the
// hardness-aware size K_q of eq. 18.
#pragma once

#include "retrieval/feature_index.h"

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <memory>
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

// Where the feature databases live. The local backend holds them in this process;
// the sharded backend (retrieval/sharded_retrieval.h, one shard per rank) answers the
// same questions with collectives, so every rank calls each method the same number
// of times, in the same order.
class RetrievalBackend {
 public:
  virtual ~RetrievalBackend() = default;
  // Top-k neighbours of `queries` [Q, D_m] in modality m's database, ordered by
  // (dissimilarity, id).
  virtual Neighbours search(int modality, const torch::Tensor& queries, std::int64_t k) = 0;
  // For pair i: mean over the three modalities of ‖f_c^m − q^m‖₂, where f_c are the
  // stored features of candidate `candidate_ids[i]` and q^m = query_features[m][pair_query[i]],
  // both as the index prepares them (text L2-normalised).
  virtual torch::Tensor integrated_distance(const std::array<torch::Tensor, 3>& query_features,
                                            const torch::Tensor& pair_query,
                                            const torch::Tensor& candidate_ids) = 0;
  // The number of rounds every process runs when this one needs `local` rounds: the
  // maximum over ranks (sharded), or `local` itself.
  virtual std::int64_t rounds(std::int64_t local) { return local; }
};

// Feature databases in this process, one FeatureIndex per modality.
class LocalRetrieval : public RetrievalBackend {
 public:
  // features[m]: [N, D_m]; ids: [N] global ids (any order, unique).
  LocalRetrieval(const std::array<torch::Tensor, 3>& features, const torch::Tensor& ids,
                 const std::array<IndexOptions, 3>& options);
  Neighbours search(int modality, const torch::Tensor& queries, std::int64_t k) override;
  torch::Tensor integrated_distance(const std::array<torch::Tensor, 3>& query_features,
                                    const torch::Tensor& pair_query,
                                    const torch::Tensor& candidate_ids) override;

  // The stored features (as given, not prepared) of `ids`, each of which must be
  // in this database.
  std::array<torch::Tensor, 3> features_of(const torch::Tensor& ids) const;
  std::int64_t size() const { return sorted_ids_.numel(); }
  std::int64_t dim(int modality) const { return indexes_[static_cast<size_t>(modality)]->dim(); }

 private:
  torch::Tensor rows_of(const torch::Tensor& ids) const;  // global id -> local row

  std::array<std::unique_ptr<FeatureIndex>, 3> indexes_;
  std::array<torch::Tensor, 3> features_;  // as given
  std::array<torch::Tensor, 3> prepared_;  // as the indexes see them
  torch::Tensor sorted_ids_, sorted_rows_;
};

// Builds the curriculum of the queries [Q] (global ids) with their complete
// features query_features[m] [Q, D_m] and hardness [Q], under the condition
// `available` (modalities searched). Deterministic: ties rank by smaller id.
Curriculum build_curriculum(RetrievalBackend& backend,
                            const std::array<torch::Tensor, 3>& query_features,
                            const torch::Tensor& query_ids, const torch::Tensor& hardness,
                            const std::array<bool, 3>& available, const CurriculumOptions& options);

// Histogram of K_q: entry k = number of queries with K_q = k (k = 0..K).
std::vector<std::int64_t> curriculum_size_histogram(const Curriculum& curriculum);

}  // namespace hardy
