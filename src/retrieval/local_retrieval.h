// The feature databases of one process: one FeatureIndex per modality over rows
// addressed by global id.
#pragma once

#include "retrieval/retrieval_backend.h"

#include <torch/torch.h>

#include <vector>
#include <cstdint>
#include <memory>

namespace hardy {

// Feature databases in this process, one FeatureIndex per modality.
class LocalRetrieval : public RetrievalBackend {
 public:
  // features[m]: [N, D_m]; ids: [N] global ids (any order, unique).
  LocalRetrieval(const PerModality<torch::Tensor>& features, const torch::Tensor& ids,
                 const PerModality<IndexOptions>& options);
  Neighbours search(int modality, const torch::Tensor& queries, std::int64_t k) override;
  torch::Tensor integrated_distance(const PerModality<torch::Tensor>& query_features,
                                    const torch::Tensor& pair_query,
                                    const torch::Tensor& candidate_ids) override;

  // The stored features (as given, not prepared) of `ids`, each of which must be
  // in this database.
  PerModality<torch::Tensor> features_of(const torch::Tensor& ids) const;
  std::int64_t size() const { return sorted_ids_.numel(); }
  std::int64_t dim(int modality) const { return indexes_[static_cast<size_t>(modality)]->dim(); }

 private:
  torch::Tensor rows_of(const torch::Tensor& ids) const;  // global id -> local row

  PerModality<std::unique_ptr<FeatureIndex>> indexes_;
  PerModality<torch::Tensor> features_;  // as given
  PerModality<torch::Tensor> prepared_;  // as the indexes see them
  torch::Tensor sorted_ids_, sorted_rows_;
};

}  // namespace hardy
