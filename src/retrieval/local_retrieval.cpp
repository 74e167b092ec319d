#include "retrieval/local_retrieval.h"

#include "core/error.h"
#include "core/modality.h"

#include <algorithm>

namespace hardy {

LocalRetrieval::LocalRetrieval(const PerModality<torch::Tensor>& features,
                               const torch::Tensor& ids,
                               const PerModality<IndexOptions>& options) {
  HARDY_THROW_IF_NOT_MSG(features.size() == options.size() && features.size() >= 2,
                         "a feature database needs one feature table and one index option per modality "
                         "(two or more), got {} and {}",
                         features.size(), options.size());
  indexes_.resize(features.size());
  features_.resize(features.size());
  prepared_.resize(features.size());
  for (std::size_t m = 0; m < features.size(); ++m) {
    const auto name = options[m].modality + " index";
    HARDY_THROW_IF_NOT_MSG(features[m].dim() == 2 && features[m].size(0) == ids.size(0),
                           "{}: {} feature rows for {} ids", name, features[m].size(0),
                           ids.size(0));
    indexes_[m] = std::make_unique<FeatureIndex>(name, features[m].size(1), options[m]);
    indexes_[m]->add(features[m], ids);
    features_[m] = features[m];
    prepared_[m] = indexes_[m]->prepare(features[m]);
  }
  auto sorted = ids.to(torch::kInt64).sort();
  sorted_ids_ = std::get<0>(sorted).contiguous();
  sorted_rows_ = std::get<1>(sorted).contiguous();
  if (sorted_ids_.numel() > 1)
    HARDY_THROW_IF_NOT_MSG(
        (sorted_ids_.slice(0, 1) != sorted_ids_.slice(0, 0, -1)).all().item<bool>(),
        "feature database ids must be unique");
}

Neighbours LocalRetrieval::search(int modality, const torch::Tensor& queries, std::int64_t k) {
  return indexes_[static_cast<size_t>(modality)]->search(queries, k);
}

torch::Tensor LocalRetrieval::rows_of(const torch::Tensor& ids) const {
  auto wanted = ids.to(torch::kInt64);
  if (wanted.numel() == 0) return torch::empty({0}, torch::kInt64);
  auto pos = torch::searchsorted(sorted_ids_, wanted);
  auto clamped = pos.clamp_max(std::max<std::int64_t>(sorted_ids_.numel() - 1, 0));
  HARDY_THROW_IF_NOT_MSG(sorted_ids_.numel() > 0 && sorted_ids_.index_select(0, clamped).equal(wanted),
                         "id not in this feature database (is the corpus sharded differently?)");
  return sorted_rows_.index_select(0, clamped);
}

PerModality<torch::Tensor> LocalRetrieval::features_of(const torch::Tensor& ids) const {
  auto rows = rows_of(ids);
  PerModality<torch::Tensor> out;
  for (const auto& f : features_) out.push_back(f.index_select(0, rows));
  return out;
}

torch::Tensor LocalRetrieval::integrated_distance(const PerModality<torch::Tensor>& query_features,
                                                  const torch::Tensor& pair_query,
                                                  const torch::Tensor& candidate_ids) {
  if (candidate_ids.numel() == 0) return torch::empty({0});
  auto rows = rows_of(candidate_ids);
  auto total = torch::zeros({candidate_ids.numel()}, torch::kFloat32);
  for (std::size_t m = 0; m < indexes_.size(); ++m) {
    auto q = indexes_[m]->prepare(query_features[m]).index_select(0, pair_query);
    auto c = prepared_[m].index_select(0, rows);
    total += (c - q).pow(2).sum(1).sqrt();
  }
  return total / static_cast<double>(indexes_.size());
}

}  // namespace hardy
