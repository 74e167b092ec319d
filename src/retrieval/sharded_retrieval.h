// The feature databases split over the ranks of a Communicator (docs/design.md §6,
// "Distributed exact search"): each rank holds the rows it owns, for every
// modality, and no rank holds the whole database.
//
//   search:  allgatherv of the queries → every rank searches its shard for the
//            top-k of all queries → alltoallv of (distance, global id) back to each
//            query's owner → k-way merge of the P sorted lists, ties by smaller id.
//   integrated_distance: each (query, candidate) pair goes to the candidate's owner
//            with the query's features; the owner computes and returns the distance.
//   fetch_features: the stored features of any global ids, from their owners.
//
// Every method is a collective: all ranks call it, in the same order, each with its
// own (possibly empty) inputs. Bad input on any rank (wrong dims, k < 1, unknown
// ids, NaN features) makes the call throw on every rank, so none is left waiting. With a Flat index the results equal those of one
// LocalRetrieval over all rows, for any number of ranks. IVF and HNSW shards are
// trained per rank, so approximate results depend on the number of ranks.
#pragma once

#include "dist/communicator.h"
#include "dist/row_exchange.h"
#include "retrieval/local_retrieval.h"

#include <vector>
#include <cstdint>
#include <memory>

namespace hardy {

// Bytes this rank sent through the communicator, by purpose.
struct RetrievalTraffic {
  std::int64_t query_bytes = 0;     // query vectors (allgatherv)
  std::int64_t result_bytes = 0;    // (distance, id) results (alltoallv)
  std::int64_t distance_bytes = 0;  // integrated-distance requests and answers
  std::int64_t feature_bytes = 0;   // fetch_features requests and answers
  std::int64_t queries = 0;         // queries this rank searched for (its own)
};

class ShardedRetrieval : public RetrievalBackend {
 public:
  // Collective. features[m]: this rank's rows [n_r, D_m]; ids: their global ids
  // [n_r], unique over all ranks. Ranks may hold no rows.
  ShardedRetrieval(std::shared_ptr<Communicator> comm, const PerModality<torch::Tensor>& features,
                   const torch::Tensor& ids, const PerModality<IndexOptions>& options);

  Neighbours search(int modality, const torch::Tensor& queries, std::int64_t k) override;
  torch::Tensor integrated_distance(const PerModality<torch::Tensor>& query_features,
                                    const torch::Tensor& pair_query,
                                    const torch::Tensor& candidate_ids) override;
  std::int64_t rounds(std::int64_t local) override;

  // Collective: the stored features of `ids` (global ids held by any rank), in the
  // order asked, [n, D_m] per modality.
  PerModality<torch::Tensor> fetch_features(const torch::Tensor& ids);

  // Rank holding each global id [n] (int64); throws for ids no rank holds.
  torch::Tensor owners(const torch::Tensor& ids) const;
  std::int64_t total_rows() const { return directory_->total_rows(); }
  std::int64_t local_rows() const { return shard_->size(); }
  const RetrievalTraffic& traffic() const { return traffic_; }

 private:
  std::shared_ptr<Communicator> comm_;
  std::unique_ptr<LocalRetrieval> shard_;
  std::vector<std::int64_t> dims_;  // D_m per modality
  std::vector<std::string> names_;  // the modalities, for messages
  std::unique_ptr<RowExchange> directory_;  // who holds which global id
  RetrievalTraffic traffic_;
};

}  // namespace hardy
