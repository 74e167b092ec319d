// One modality's feature database: a FAISS index over rows identified by their
// global id (corpus row), searched with a uniform convention: results carry a
// dissimilarity where smaller is closer (squared L2 for `l2`; 1 − cosine for `ip`,
// whose vectors are L2-normalised), ordered by (dissimilarity, id) so equal
// distances always resolve to the smaller id.
#pragma once

// FAISS 1.7.3's Index.h uses uint8_t without including <cstdint> (newer libstdc++
// no longer pulls it in): include it first.
#include <cstdint>

#include <faiss/Index.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hardy {

enum class Metric { L2, InnerProduct };
enum class IndexKind { Flat, IVF, HNSW };
// Who proposes the candidates of an exact search: FAISS (CPU), or LibTorch's GEMM +
// top-k on `IndexOptions::device` (a GPU, or the CPU for tests). Either way the
// candidates are re-scored exactly and ranked by (dissimilarity, id), so both give
// the same neighbours bit for bit.
enum class SearchEngine { Faiss, Torch };

Metric parse_metric(const std::string& name);        // "l2" | "ip"
IndexKind parse_index_kind(const std::string& name);  // "flat" | "ivf" | "hnsw"
SearchEngine parse_search_engine(const std::string& name);  // "faiss" | "torch"

struct IndexOptions {
  std::string modality = "features";  // the modality it indexes, for messages ("audio")
  Metric metric = Metric::L2;
  IndexKind kind = IndexKind::Flat;
  std::int64_t ivf_nlist = 0;  // 0 = about 4·sqrt(N), at most N/39
  std::int64_t ivf_nprobe = 16;
  std::int64_t hnsw_m = 32;
  std::int64_t hnsw_ef_search = 64;
  SearchEngine engine = SearchEngine::Faiss;  // Torch: exact (flat) search only
  torch::Device device = torch::kCPU;         // where the Torch engine keeps the database
  std::int64_t torch_query_chunk = 1024;      // queries per GEMM (bounds its memory)
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

  std::int64_t size() const;
  std::int64_t dim() const { return dim_; }
  const IndexOptions& options() const { return options_; }

  // The vectors as the index sees them (text: L2-normalised), for distance work.
  torch::Tensor prepare(const torch::Tensor& vectors) const;
  // Dissimilarity between prepared vectors a [n, d] and b [n, d] row by row, in the
  // index's convention.
  torch::Tensor pair_dissimilarity(const torch::Tensor& a, const torch::Tensor& b) const;

 private:
  // Candidate ids per query (a superset of its exact top-k) from FAISS or LibTorch.
  std::vector<std::vector<std::int64_t>> faiss_candidates(const torch::Tensor& q, std::int64_t k) const;
  std::vector<std::vector<std::int64_t>> torch_candidates(const torch::Tensor& q, std::int64_t k) const;
  // The stored (prepared) vector of global id `id`, into `row`.
  void stored_vector(std::int64_t id, float* row) const;

  std::string name_;
  std::int64_t dim_;
  IndexOptions options_;
  std::unique_ptr<faiss::Index> index_;  // the FAISS engine
  // The Torch engine: prepared vectors on the host (for exact re-scoring) and on
  // options_.device (for the GEMM), their ids, and ids ascending with their rows.
  torch::Tensor host_vectors_, device_vectors_, device_norms_, ids_, sorted_ids_, sorted_rows_;
};

}  // namespace hardy
