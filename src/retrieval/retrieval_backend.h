// Where the feature databases live, as one interface: the local backend
// (local_retrieval.h) holds them in this process; the sharded backend
// (sharded_retrieval.h, one shard per rank) answers the same questions with
// collectives. The curriculum builder (curriculum.h) talks only to this.
#pragma once

#include "core/modality.h"
#include "retrieval/feature_index.h"

#include <torch/torch.h>

#include <vector>
#include <cstdint>

namespace hardy {

// Every rank calls each method of a sharded backend the same number of times, in
// the same order.
class RetrievalBackend {
 public:
  virtual ~RetrievalBackend() = default;
  // Top-k neighbours of `queries` [Q, D_m] in modality m's database, ordered by
  // (dissimilarity, id).
  virtual Neighbours search(int modality, const torch::Tensor& queries, std::int64_t k) = 0;
  // For pair i: mean over the three modalities of ‖f_c^m − q^m‖₂, where f_c are the
  // stored features of candidate `candidate_ids[i]` and q^m = query_features[m][pair_query[i]],
  // both as the index prepares them (text L2-normalised).
  virtual torch::Tensor integrated_distance(const PerModality<torch::Tensor>& query_features,
                                            const torch::Tensor& pair_query,
                                            const torch::Tensor& candidate_ids) = 0;
  // The number of rounds every process runs when this one needs `local` rounds: the
  // maximum over ranks (sharded), or `local` itself.
  virtual std::int64_t rounds(std::int64_t local) { return local; }
};

}  // namespace hardy
