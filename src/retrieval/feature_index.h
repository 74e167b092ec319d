// One modality's feature database: a FAISS index over rows identified by their
// global id (corpus row), searched with a uniform convention: results carry a
// dissimilarity where smaller is closer (squared L2 for `l2`; 1 − cosine for `ip`,
// whose vectors are L2-normalised), ordered by (dissimilarity, id) so equal
// distances always resolve to the smaller id.
#pragma once

#include <faiss/Index.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

namespace hardy {

enum class Metric { L2, InnerProduct };
enum class IndexKind { Flat, IVF, HNSW };

Metric parse_metric(const std::string& name);        // "l2" | "ip"
IndexKind parse_index_kind(const std::string& name);  // "flat" | "ivf" | "hnsw"

struct IndexOptions {
  Metric metric = Metric::L2;
  IndexKind kind = IndexKind::Flat;
  std::int64_t ivf_nlist = 0;  // 0 = about 4·sqrt(N), at most N/39
  std::int64_t ivf_nprobe = 16;
  std::int64_t hnsw_m = 32;
  std::int64_t hnsw_ef_search = 64;
};

// Top-k neighbours of Q queries.
struct Neighbours {
  torch::Tensor distances;  // float32 [Q, k], ascending; +inf where fewer than k exist
  torch::Tensor ids;        // int64 [Q, k] global ids; -1 where fewer than k exist
};

class FeatureIndex {
 public:
  // `name` labels errors ("text index"). Vectors of dim `dim`.
  FeatureIndex(std::string name, std::int64_t dim, IndexOptions options);

  // Adds rows [n, dim] (float32) with their global ids [n]. Approximate kinds are
  // trained on the first call's rows; call add() once with the whole database.
  void add(const torch::Tensor& vectors, const torch::Tensor& ids);
  // Top-k of queries [Q, dim]. Exact for Flat (ties by smaller id); approximate
  // for IVF/HNSW.
  Neighbours search(const torch::Tensor& queries, std::int64_t k) const;

  std::int64_t size() const { return index_ ? index_->ntotal : 0; }
  std::int64_t dim() const { return dim_; }
  const IndexOptions& options() const { return options_; }

  // The vectors as the index sees them (text: L2-normalised), for distance work.
  torch::Tensor prepare(const torch::Tensor& vectors) const;
  // Dissimilarity between prepared vectors a [n, d] and b [n, d] row by row, in the
  // index's convention.
  torch::Tensor pair_dissimilarity(const torch::Tensor& a, const torch::Tensor& b) const;

 private:
  std::string name_;
  std::int64_t dim_;
  IndexOptions options_;
  std::unique_ptr<faiss::Index> index_;
};

}  // namespace hardy
