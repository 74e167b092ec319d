#include "retrieval/curriculum.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace hardy {

std::int64_t curriculum_size(double hardness, std::int64_t candidates,
                             const CurriculumOptions& o) {
  std::int64_t k = o.top_k;
  if (o.dynamic_k) {
    k = static_cast<std::int64_t>(
        std::floor(hardness * static_cast<double>(o.top_k + 1 - o.k_min) + o.k_min));
    k = std::clamp<std::int64_t>(k, 0, o.top_k);
  }
  return std::min(k, candidates);
}

LocalRetrieval::LocalRetrieval(const std::array<torch::Tensor, 3>& features,
                               const torch::Tensor& ids,
                               const std::array<IndexOptions, 3>& options) {
  static const char* names[] = {"audio index", "text index", "visual index"};
  for (int m = 0; m < 3; ++m) {
    HARDY_THROW_IF_NOT_MSG(features[m].dim() == 2 && features[m].size(0) == ids.size(0),
                           "{}: {} feature rows for {} ids", names[m], features[m].size(0),
                           ids.size(0));
    indexes_[m] = std::make_unique<FeatureIndex>(names[m], features[m].size(1), options[m]);
    indexes_[m]->add(features[m], ids);
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
  auto pos = torch::searchsorted(sorted_ids_, ids.to(torch::kInt64));
  auto clamped = pos.clamp_max(std::max<std::int64_t>(sorted_ids_.numel() - 1, 0));
  HARDY_THROW_IF_NOT_MSG(sorted_ids_.numel() > 0 &&
                             sorted_ids_.index_select(0, clamped).equal(ids.to(torch::kInt64)),
                         "candidate id not in the feature database");
  return sorted_rows_.index_select(0, clamped);
}

torch::Tensor LocalRetrieval::integrated_distance(const std::array<torch::Tensor, 3>& query_features,
                                                  const torch::Tensor& candidate_ids) {
  if (candidate_ids.numel() == 0) return torch::empty({0});
  auto rows = rows_of(candidate_ids);
  auto total = torch::zeros({candidate_ids.numel()}, torch::kFloat32);
  for (int m = 0; m < 3; ++m) {
    auto q = indexes_[m]->prepare(query_features[m]);
    auto c = prepared_[m].index_select(0, rows);
    total += (c - q).pow(2).sum(1).sqrt();
  }
  return total / 3.0;
}

Curriculum build_curriculum(RetrievalBackend& backend,
                            const std::array<torch::Tensor, 3>& query_features,
                            const torch::Tensor& query_ids, const torch::Tensor& hardness,
                            const std::array<bool, 3>& available, const CurriculumOptions& o) {
  HARDY_THROW_IF_NOT_MSG(o.top_k >= 1, "retrieval.top_k must be >= 1, got {}", o.top_k);
  HARDY_THROW_IF_NOT_MSG(o.k_min >= 0 && o.k_min <= o.top_k,
                         "retrieval.k_min must be in [0, top_k = {}], got {}", o.top_k, o.k_min);
  HARDY_THROW_IF_NOT_MSG(available[0] || available[1] || available[2],
                         "a curriculum needs at least one available modality");
  const std::int64_t nq = query_ids.numel();
  HARDY_THROW_IF_NOT_MSG(hardness.numel() == nq, "{} hardness scores for {} queries",
                         hardness.numel(), nq);
  for (int m = 0; m < 3; ++m)
    HARDY_THROW_IF_NOT_MSG(query_features[m].size(0) == nq,
                           "query features of modality {} have {} rows for {} queries", m,
                           query_features[m].size(0), nq);
  auto qids = query_ids.to(torch::kInt64).contiguous();
  auto* qid = qids.data_ptr<std::int64_t>();

  // 1–2: union of every available modality's top-(K+1), the query itself removed.
  std::vector<std::vector<std::int64_t>> candidates(static_cast<size_t>(nq));
  for (int m = 0; m < 3; ++m) {
    if (!available[m]) continue;
    auto found = backend.search(m, query_features[m], o.top_k + 1).ids.contiguous();
    auto acc = found.accessor<std::int64_t, 2>();
    for (std::int64_t i = 0; i < nq; ++i)
      for (std::int64_t j = 0; j < found.size(1); ++j)
        if (acc[i][j] >= 0 && acc[i][j] != qid[i]) candidates[i].push_back(acc[i][j]);
  }
  std::vector<std::int64_t> pair_query, pair_candidate;
  for (std::int64_t i = 0; i < nq; ++i) {
    auto& c = candidates[static_cast<size_t>(i)];
    std::sort(c.begin(), c.end());
    c.erase(std::unique(c.begin(), c.end()), c.end());
    for (auto id : c) {
      pair_query.push_back(i);
      pair_candidate.push_back(id);
    }
  }

  // 3: integrated distance of every (query, candidate) pair.
  auto pq = torch::tensor(pair_query, torch::kInt64);
  std::array<torch::Tensor, 3> pair_features;
  for (int m = 0; m < 3; ++m) pair_features[m] = query_features[m].index_select(0, pq);
  auto dist = backend.integrated_distance(pair_features, torch::tensor(pair_candidate, torch::kInt64))
                  .to(torch::kFloat32)
                  .contiguous();
  const float* d = dist.data_ptr<float>();

  // 4–5: rank, then keep the first K_q.
  Curriculum out;
  out.query = qids.clone();
  out.hardness = hardness.to(torch::kFloat32).contiguous().clone();
  out.size = torch::zeros({nq}, torch::kInt64);
  out.candidates = torch::zeros({nq}, torch::kInt64);
  out.support = torch::full({nq, o.top_k}, -1, torch::kInt64);
  out.distance = torch::full({nq, o.top_k}, std::numeric_limits<float>::infinity());
  auto h = out.hardness.accessor<float, 1>();
  auto size = out.size.accessor<std::int64_t, 1>();
  auto ncand = out.candidates.accessor<std::int64_t, 1>();
  auto sup = out.support.accessor<std::int64_t, 2>();
  auto sd = out.distance.accessor<float, 2>();
  std::size_t at = 0;
  std::vector<std::size_t> order;
  for (std::int64_t i = 0; i < nq; ++i) {
    const auto& c = candidates[static_cast<size_t>(i)];
    order.resize(c.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      float da = d[at + a], db = d[at + b];
      return da != db ? da < db : c[a] < c[b];
    });
    ncand[i] = static_cast<std::int64_t>(c.size());
    size[i] = curriculum_size(h[i], ncand[i], o);
    for (std::int64_t j = 0; j < size[i]; ++j) {
      sup[i][j] = c[order[static_cast<size_t>(j)]];
      sd[i][j] = d[at + order[static_cast<size_t>(j)]];
    }
    at += c.size();
  }
  return out;
}

std::vector<std::int64_t> curriculum_size_histogram(const Curriculum& c) {
  std::vector<std::int64_t> histogram(static_cast<size_t>(c.top_k() + 1), 0);
  auto sizes = c.size.contiguous();
  for (std::int64_t i = 0; i < sizes.numel(); ++i) ++histogram[static_cast<size_t>(sizes.data_ptr<std::int64_t>()[i])];
  return histogram;
}

}  // namespace hardy
