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

SearchEngine parse_search_engine(const std::string& name) {
  if (name == "faiss") return SearchEngine::Faiss;
  if (name == "torch") return SearchEngine::Torch;
  HARDY_THROW_MSG("unknown search engine '{}': use faiss or torch", name);
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

std::int64_t FeatureIndex::size() const {
  if (options_.engine == SearchEngine::Torch) return ids_.defined() ? ids_.numel() : 0;
  return index_ ? index_->ntotal : 0;
}

void FeatureIndex::add(const torch::Tensor& vectors, const torch::Tensor& ids) {
  HARDY_THROW_IF_NOT_MSG(vectors.dim() == 2 && vectors.size(1) == dim_,
                         "{}: vectors must be [n, {}], got {}", name_, dim_, shape(vectors));
  HARDY_THROW_IF_NOT_MSG(ids.dim() == 1 && ids.size(0) == vectors.size(0),
                         "{}: {} ids for {} vectors", name_, ids.numel(), vectors.size(0));
  HARDY_THROW_IF_NOT_MSG(torch::isfinite(vectors).all().item<bool>(),
                         "{}: vectors contain NaN or Inf (run hardy_dist validate on the corpus)",
                         name_);
  if (vectors.size(0) == 0) return;  // an empty shard: searches find nothing
  auto v = prepare(vectors);
  auto id = ids.to(torch::kInt64).contiguous();
  const std::int64_t n = v.size(0);
  if (options_.engine == SearchEngine::Torch) {
    HARDY_THROW_IF_NOT_MSG(options_.kind == IndexKind::Flat,
                           "{}: the torch search engine does exact (flat) search only; set "
                           "retrieval.index = \"flat\" or retrieval.engine = \"faiss\"",
                           name_);
    host_vectors_ = host_vectors_.defined() ? torch::cat({host_vectors_, v}) : v;
    ids_ = ids_.defined() ? torch::cat({ids_, id}) : id;
    device_vectors_ = host_vectors_.to(options_.device);
    device_norms_ = device_vectors_.pow(2).sum(1);
    auto sorted = ids_.sort();
    sorted_ids_ = std::get<0>(sorted).contiguous();
    sorted_rows_ = std::get<1>(sorted).contiguous();
    return;
  }
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
        ivf->make_direct_map(true);  // so results can be re-scored from the stored vectors
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
    auto* mapped = new faiss::IndexIDMap2(base.release());  // IDMap2: reconstruct by id
    mapped->own_fields = true;
    index_.reset(mapped);
  }
  faiss_call(name_, "add", [&] { index_->add_with_ids(n, v.data_ptr<float>(), id.data_ptr<std::int64_t>()); });
}

namespace {

// Dissimilarity of two prepared vectors, accumulated in double in a fixed order:
// the same value whichever FAISS code path (BLAS or SIMD, chosen by batch size)
// found the pair, so results do not depend on how queries are batched or sharded.
float exact_dissimilarity(Metric metric, const float* a, const float* b, std::int64_t dim) {
  double sum = 0;
  if (metric == Metric::L2) {
    for (std::int64_t i = 0; i < dim; ++i) {
      double d = static_cast<double>(a[i]) - b[i];
      sum += d * d;
    }
    return static_cast<float>(sum);
  }
  for (std::int64_t i = 0; i < dim; ++i) sum += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(1.0 - sum);
}

}  // namespace

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
  const float* qdata = q.data_ptr<float>();
  const auto found = options_.engine == SearchEngine::Torch ? torch_candidates(q, k) : faiss_candidates(q, k);

  auto d_out = out.distances.accessor<float, 2>();
  auto i_out = out.ids.accessor<std::int64_t, 2>();
  std::vector<std::pair<float, std::int64_t>> scored;
  std::vector<float> row(static_cast<size_t>(dim_));
  for (std::int64_t i = 0; i < nq; ++i) {
    scored.clear();
    for (auto id : found[i]) {
      if (id < 0) continue;
      stored_vector(id, row.data());
      scored.emplace_back(exact_dissimilarity(options_.metric, qdata + i * dim_, row.data(), dim_), id);
    }
    std::sort(scored.begin(), scored.end());
    for (std::int64_t j = 0; j < std::min<std::int64_t>(k, static_cast<std::int64_t>(scored.size())); ++j) {
      d_out[i][j] = scored[j].first;
      i_out[i][j] = scored[j].second;
    }
  }
  return out;
}

std::vector<std::vector<std::int64_t>> FeatureIndex::faiss_candidates(const torch::Tensor& q,
                                                                     std::int64_t k) const {
  const std::int64_t nq = q.size(0);
  const float* qdata = q.data_ptr<float>();
  const bool exact = options_.kind == IndexKind::Flat;
  auto faiss_dissimilarity = [&](float d) { return options_.metric == Metric::L2 ? d : 1.0f - d; };
  // FAISS proposes candidates; they are then re-scored exactly and ranked by
  // (dissimilarity, id). For exact search a query asks for more candidates (doubling)
  // while its last one is within rounding distance of its k-th, so neither ties nor
  // FAISS's rounding can push a true top-k neighbour out.
  std::vector<std::vector<std::int64_t>> found(static_cast<size_t>(nq));
  std::vector<std::int64_t> pending(static_cast<size_t>(nq));
  std::iota(pending.begin(), pending.end(), 0);
  std::int64_t fetch = std::min(size(), exact ? k + 8 : k);
  std::vector<float> dist, batch;
  std::vector<faiss::Index::idx_t> labels;
  while (!pending.empty()) {
    const auto n = static_cast<std::int64_t>(pending.size());
    batch.resize(static_cast<size_t>(n * dim_));
    for (std::int64_t i = 0; i < n; ++i)
      std::copy_n(qdata + pending[i] * dim_, dim_, batch.data() + i * dim_);
    dist.assign(static_cast<size_t>(n * fetch), 0.f);
    labels.assign(static_cast<size_t>(n * fetch), -1);
    faiss_call(name_, "search", [&] { index_->search(n, batch.data(), fetch, dist.data(), labels.data()); });
    std::vector<std::int64_t> again;
    for (std::int64_t i = 0; i < n; ++i) {
      const float* d = dist.data() + i * fetch;
      const auto* l = labels.data() + i * fetch;
      if (exact && fetch < size() && fetch > k) {
        double norm = 0;
        for (std::int64_t j = 0; j < dim_; ++j) norm += double(batch[i * dim_ + j]) * batch[i * dim_ + j];
        double kth = faiss_dissimilarity(d[k - 1]), last = faiss_dissimilarity(d[fetch - 1]);
        if (last <= kth + 1e-4 * (std::abs(kth) + norm + 1.0)) {
          again.push_back(pending[i]);
          continue;
        }
      }
      found[pending[i]].assign(l, l + fetch);
    }
    pending.swap(again);
    fetch = std::min(size(), fetch * 2);
  }
  return found;
}

// The same candidates from a GEMM + top-k in LibTorch on options_.device, with the
// same rule: a query asks for more (doubling) while its last candidate is within
// rounding distance of its k-th. The margin also counts the database's largest
// norm, since GEMM distances round with |q|² + |x|².
std::vector<std::vector<std::int64_t>> FeatureIndex::torch_candidates(const torch::Tensor& q,
                                                                     std::int64_t k) const {
  torch::NoGradGuard no_grad;
  const std::int64_t nq = q.size(0), n = size();
  std::vector<std::vector<std::int64_t>> found(static_cast<size_t>(nq));
  const auto query_norms_t = q.to(torch::kFloat64).pow(2).sum(1).contiguous();
  const double* query_norms = query_norms_t.data_ptr<double>();
  const double max_norm = device_norms_.max().item<double>();
  const std::int64_t chunk = std::max<std::int64_t>(1, options_.torch_query_chunk);
  for (std::int64_t c0 = 0; c0 < nq; c0 += chunk) {
    const std::int64_t c1 = std::min(nq, c0 + chunk);
    auto qc = q.slice(0, c0, c1).to(options_.device);
    auto product = qc.matmul(device_vectors_.t());
    torch::Tensor d = options_.metric == Metric::L2
                          ? qc.pow(2).sum(1, /*keepdim=*/true) + device_norms_.unsqueeze(0) - 2 * product
                          : 1.0 - product;
    std::vector<std::int64_t> pending(static_cast<size_t>(c1 - c0));
    std::iota(pending.begin(), pending.end(), c0);
    std::int64_t fetch = std::min(n, k + 8);
    while (!pending.empty()) {
      auto top = d.topk(fetch, /*dim=*/1, /*largest=*/false, /*sorted=*/true);
      auto values = std::get<0>(top).to(torch::kCPU).contiguous();
      auto rows = std::get<1>(top).to(torch::kCPU).contiguous();
      const auto* v = values.data_ptr<float>();
      const auto* r = rows.data_ptr<std::int64_t>();
      const auto* id = ids_.data_ptr<std::int64_t>();
      std::vector<std::int64_t> again, again_local;
      for (size_t i = 0; i < pending.size(); ++i) {
        const auto query = pending[i];
        if (fetch < n && fetch > k) {
          const double kth = v[i * fetch + k - 1], last = v[i * fetch + fetch - 1];
          const double norm = query_norms[query];
          if (last <= kth + 1e-4 * (std::abs(kth) + norm + max_norm + 1.0)) {
            again.push_back(query);
            again_local.push_back(static_cast<std::int64_t>(i));
            continue;
          }
        }
        auto& out = found[static_cast<size_t>(query)];
        for (std::int64_t j = 0; j < fetch; ++j) out.push_back(id[r[i * fetch + j]]);
      }
      if (!again.empty())
        d = d.index_select(0, torch::tensor(again_local, torch::kInt64).to(d.device()));
      pending.swap(again);
      fetch = std::min(n, fetch * 2);
    }
  }
  return found;
}

void FeatureIndex::stored_vector(std::int64_t id, float* row) const {
  if (options_.engine == SearchEngine::Faiss) {
    faiss_call(name_, "reconstruct", [&] { index_->reconstruct(id, row); });
    return;
  }
  const auto* sorted = sorted_ids_.data_ptr<std::int64_t>();
  const auto n = sorted_ids_.numel();
  const auto at = std::lower_bound(sorted, sorted + n, id) - sorted;
  HARDY_THROW_IF_NOT_MSG(at < n && sorted[at] == id, "{}: id {} is not in the index", name_, id);
  const auto source = sorted_rows_.data_ptr<std::int64_t>()[at];
  std::copy_n(host_vectors_.data_ptr<float>() + source * dim_, dim_, row);
}

}  // namespace hardy
