#include "retrieval/feature_index.h"

#include "core/error.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVFFlat.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace hardy {

Metric parse_metric(const std::string& name) {
  if (name == "l2") return Metric::L2;
  if (name == "ip") return Metric::InnerProduct;
  HARDY_THROW_MSG("unknown retrieval metric '{}': use l2 or ip", name);
}

IndexKind parse_index_kind(const std::string& name) {
  if (name == "flat") return IndexKind::Flat;
  if (name == "ivf") return IndexKind::IVF;
  if (name == "hnsw") return IndexKind::HNSW;
  HARDY_THROW_MSG("unknown index kind '{}': use flat, ivf or hnsw", name);
}

namespace {

std::string shape(const torch::Tensor& t) {
  return fmt::format("[{}]", fmt::join(t.sizes().begin(), t.sizes().end(), ", "));
}

faiss::MetricType faiss_metric(Metric m) {
  return m == Metric::L2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

// Wraps FAISS calls so its exceptions become hardy::Error naming the index.
template <typename F>
void faiss_call(const std::string& name, const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    HARDY_THROW_MSG("{}: FAISS {} failed: {}", name, what, e.what());
  }
}

}  // namespace

FeatureIndex::FeatureIndex(std::string name, std::int64_t dim, IndexOptions options)
    : name_(std::move(name)), dim_(dim), options_(options) {
  HARDY_THROW_IF_NOT_MSG(dim >= 1, "{}: vector dim must be >= 1, got {}", name_, dim);
}

torch::Tensor FeatureIndex::prepare(const torch::Tensor& vectors) const {
  auto v = vectors.to(torch::kFloat32).contiguous();
  if (options_.metric == Metric::InnerProduct)
    v = torch::nn::functional::normalize(v, torch::nn::functional::NormalizeFuncOptions().dim(1));
  return v.contiguous();
}

torch::Tensor FeatureIndex::pair_dissimilarity(const torch::Tensor& a, const torch::Tensor& b) const {
  if (options_.metric == Metric::L2) return (a - b).pow(2).sum(1);
  return 1.0 - (a * b).sum(1);
}

void FeatureIndex::add(const torch::Tensor& vectors, const torch::Tensor& ids) {
  HARDY_THROW_IF_NOT_MSG(vectors.dim() == 2 && vectors.size(1) == dim_,
                         "{}: vectors must be [n, {}], got {}", name_, dim_, shape(vectors));
  HARDY_THROW_IF_NOT_MSG(ids.dim() == 1 && ids.size(0) == vectors.size(0),
                         "{}: {} ids for {} vectors", name_, ids.numel(), vectors.size(0));
  HARDY_THROW_IF_NOT_MSG(torch::isfinite(vectors).all().item<bool>(),
                         "{}: vectors contain NaN or Inf (run hardy_dist validate on the corpus)",
                         name_);
  auto v = prepare(vectors);
  auto id = ids.to(torch::kInt64).contiguous();
  const std::int64_t n = v.size(0);
  if (!index_) {
    std::unique_ptr<faiss::Index> base;
    switch (options_.kind) {
      case IndexKind::Flat:
        base = options_.metric == Metric::L2
                   ? std::unique_ptr<faiss::Index>(new faiss::IndexFlatL2(dim_))
                   : std::unique_ptr<faiss::Index>(new faiss::IndexFlatIP(dim_));
        break;
      case IndexKind::IVF: {
        std::int64_t nlist = options_.ivf_nlist;
        if (nlist <= 0)
          nlist = std::clamp<std::int64_t>(static_cast<std::int64_t>(4 * std::sqrt(double(n))), 1,
                                           std::max<std::int64_t>(1, n / 39));
        HARDY_THROW_IF_NOT_MSG(n >= nlist, "{}: IVF needs at least nlist = {} vectors to train, got {}",
                               name_, nlist, n);
        auto* quantizer = options_.metric == Metric::L2
                              ? static_cast<faiss::IndexFlat*>(new faiss::IndexFlatL2(dim_))
                              : static_cast<faiss::IndexFlat*>(new faiss::IndexFlatIP(dim_));
        auto* ivf = new faiss::IndexIVFFlat(quantizer, dim_, static_cast<size_t>(nlist),
                                            faiss_metric(options_.metric));
        ivf->own_fields = true;
        ivf->nprobe = static_cast<size_t>(std::min(options_.ivf_nprobe, nlist));
        base.reset(ivf);
        break;
      }
      case IndexKind::HNSW: {
        auto* hnsw = new faiss::IndexHNSWFlat(dim_, static_cast<int>(options_.hnsw_m),
                                              faiss_metric(options_.metric));
        hnsw->hnsw.efSearch = static_cast<int>(options_.hnsw_ef_search);
        base.reset(hnsw);
        break;
      }
    }
    if (!base->is_trained)
      faiss_call(name_, "training", [&] { base->train(n, v.data_ptr<float>()); });
    auto* mapped = new faiss::IndexIDMap(base.release());
    mapped->own_fields = true;
    index_.reset(mapped);
  }
  faiss_call(name_, "add", [&] { index_->add_with_ids(n, v.data_ptr<float>(), id.data_ptr<std::int64_t>()); });
}

Neighbours FeatureIndex::search(const torch::Tensor& queries, std::int64_t k) const {
  HARDY_THROW_IF_NOT_MSG(k >= 1, "{}: k must be >= 1, got {}", name_, k);
  HARDY_THROW_IF_NOT_MSG(queries.dim() == 2 && queries.size(1) == dim_,
                         "{}: queries must be [Q, {}], got {} (wrong modality or feature dim?)",
                         name_, dim_, shape(queries));
  const std::int64_t nq = queries.size(0);
  Neighbours out{torch::full({nq, k}, std::numeric_limits<float>::infinity()),
                 torch::full({nq, k}, -1, torch::kInt64)};
  if (nq == 0 || size() == 0) return out;
  auto q = prepare(queries);
  const bool exact = options_.kind == IndexKind::Flat;
  // Exact search fetches extra neighbours while the k-th distance is tied with the
  // last fetched one, so ties at the boundary resolve to the smaller id.
  std::int64_t fetch = std::min(size(), exact ? k + 8 : k);
  std::vector<float> dist;
  std::vector<faiss::Index::idx_t> labels;
  while (true) {
    dist.assign(static_cast<size_t>(nq * fetch), 0.f);
    labels.assign(static_cast<size_t>(nq * fetch), -1);
    faiss_call(name_, "search", [&] {
      index_->search(nq, q.data_ptr<float>(), fetch, dist.data(), labels.data());
    });
    if (!exact || fetch >= size() || fetch <= k) break;
    bool boundary_tie = false;
    for (std::int64_t i = 0; i < nq && !boundary_tie; ++i)
      boundary_tie = dist[i * fetch + k - 1] == dist[i * fetch + fetch - 1];
    if (!boundary_tie) break;
    fetch = std::min(size(), fetch * 2);
  }
  auto d_out = out.distances.accessor<float, 2>();
  auto i_out = out.ids.accessor<std::int64_t, 2>();
  std::vector<std::int64_t> order(static_cast<size_t>(fetch));
  for (std::int64_t i = 0; i < nq; ++i) {
    const float* d = dist.data() + i * fetch;
    const auto* l = labels.data() + i * fetch;
    auto dissimilarity = [&](std::int64_t j) {
      return options_.metric == Metric::L2 ? d[j] : 1.0f - d[j];
    };
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
      if (l[a] < 0 || l[b] < 0) return l[b] < 0 && l[a] >= 0;
      float da = dissimilarity(a), db = dissimilarity(b);
      return da != db ? da < db : l[a] < l[b];
    });
    for (std::int64_t j = 0; j < std::min(k, fetch); ++j) {
      auto src = order[static_cast<size_t>(j)];
      if (l[src] < 0) break;
      d_out[i][j] = dissimilarity(src);
      i_out[i][j] = l[src];
    }
  }
  return out;
}

}  // namespace hardy
