#include "retrieval/curriculum.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
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

namespace {

// Steps 1–5 for the queries [begin, end), written into rows [begin, end) of `out`.
void build_round(RetrievalBackend& backend, const PerModality<torch::Tensor>& all_features,
                 const std::int64_t* qid, std::int64_t begin, std::int64_t end,
                 const std::vector<bool>& available, const CurriculumOptions& o, Curriculum& out) {
  const std::int64_t nq = end - begin;
  PerModality<torch::Tensor> query_features;
  for (const auto& f : all_features) query_features.push_back(f.slice(0, begin, end));

  // 1–2: union of every available modality's top-(K+1), the query itself removed.
  std::vector<std::vector<std::int64_t>> candidates(static_cast<size_t>(nq));
  for (int m = 0; m < static_cast<int>(available.size()); ++m) {
    if (!available[static_cast<std::size_t>(m)]) continue;
    auto found = backend.search(m, query_features[static_cast<std::size_t>(m)], o.top_k + 1).ids.contiguous();
    auto acc = found.accessor<std::int64_t, 2>();
    for (std::int64_t i = 0; i < nq; ++i)
      for (std::int64_t j = 0; j < found.size(1); ++j)
        if (acc[i][j] >= 0 && acc[i][j] != qid[begin + i]) candidates[i].push_back(acc[i][j]);
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
  auto dist = backend
                  .integrated_distance(query_features, torch::tensor(pair_query, torch::kInt64),
                                       torch::tensor(pair_candidate, torch::kInt64))
                  .to(torch::kFloat32)
                  .contiguous();
  const float* d = dist.data_ptr<float>();

  // 4–5: rank, then keep the first K_q.
  auto h = out.hardness.accessor<float, 1>();
  auto size = out.size.accessor<std::int64_t, 1>();
  auto ncand = out.candidates.accessor<std::int64_t, 1>();
  auto sup = out.support.accessor<std::int64_t, 2>();
  auto sd = out.distance.accessor<float, 2>();
  std::size_t at = 0;
  std::vector<std::size_t> order;
  for (std::int64_t i = 0; i < nq; ++i) {
    const auto& c = candidates[static_cast<size_t>(i)];
    const std::int64_t q = begin + i;
    order.resize(c.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      float da = d[at + a], db = d[at + b];
      return da != db ? da < db : c[a] < c[b];
    });
    ncand[q] = static_cast<std::int64_t>(c.size());
    size[q] = curriculum_size(h[q], ncand[q], o);
    for (std::int64_t j = 0; j < size[q]; ++j) {
      sup[q][j] = c[order[static_cast<size_t>(j)]];
      sd[q][j] = d[at + order[static_cast<size_t>(j)]];
    }
    at += c.size();
  }
}

}  // namespace

Curriculum build_curriculum(RetrievalBackend& backend,
                            const PerModality<torch::Tensor>& query_features,
                            const torch::Tensor& query_ids, const torch::Tensor& hardness,
                            const std::vector<bool>& available, const CurriculumOptions& o) {
  HARDY_THROW_IF_NOT_MSG(o.top_k >= 1, "retrieval.top_k must be >= 1, got {}", o.top_k);
  HARDY_THROW_IF_NOT_MSG(o.k_min >= 0 && o.k_min <= o.top_k,
                         "retrieval.k_min must be in [0, top_k = {}], got {}", o.top_k, o.k_min);
  HARDY_THROW_IF_NOT_MSG(o.query_batch >= 1, "retrieval.query_batch must be >= 1, got {}",
                         o.query_batch);
  HARDY_THROW_IF_NOT_MSG(available.size() == query_features.size(),
                         "a condition over {} modalities for query features of {}", available.size(),
                         query_features.size());
  HARDY_THROW_IF_NOT_MSG(std::find(available.begin(), available.end(), true) != available.end(),
                         "a curriculum needs at least one available modality");
  const std::int64_t nq = query_ids.numel();
  HARDY_THROW_IF_NOT_MSG(hardness.numel() == nq, "{} hardness scores for {} queries",
                         hardness.numel(), nq);
  for (std::size_t m = 0; m < query_features.size(); ++m)
    HARDY_THROW_IF_NOT_MSG(query_features[m].dim() == 2 && query_features[m].size(0) == nq,
                           "query features of modality {} have {} rows for {} queries", m,
                           query_features[m].size(0), nq);
  auto qids = query_ids.to(torch::kInt64).contiguous();

  Curriculum out;
  out.query = qids.clone();
  out.hardness = hardness.to(torch::kFloat32).contiguous().clone();
  out.size = torch::zeros({nq}, torch::kInt64);
  out.candidates = torch::zeros({nq}, torch::kInt64);
  out.support = torch::full({nq, o.top_k}, -1, torch::kInt64);
  out.distance = torch::full({nq, o.top_k}, std::numeric_limits<float>::infinity());
  // Every rank runs the same number of rounds (its last ones may be empty), so the
  // collectives inside the backend pair up.
  const std::int64_t rounds = backend.rounds((nq + o.query_batch - 1) / o.query_batch);
  for (std::int64_t r = 0; r < rounds; ++r) {
    std::int64_t begin = std::min(nq, r * o.query_batch);
    std::int64_t end = std::min(nq, begin + o.query_batch);
    build_round(backend, query_features, qids.data_ptr<std::int64_t>(), begin, end, available, o, out);
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
