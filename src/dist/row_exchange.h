// Rows of per-row tables split over the ranks, addressed by global id: who owns an
// id, and fetching any ids' rows from their owners with two alltoallv calls.
// ShardedRetrieval uses it for its feature database; the trainers use it to get
// support features and labels held by other ranks (student stage 2, reports).
#pragma once

#include "dist/collective_errors.h"
#include "dist/communicator.h"
#include "dist/routing.h"

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace hardy {

class RowExchange {
 public:
  // Collective. `ids`: the global ids of this rank's rows [n_r], unique over all
  // ranks (a rank may hold none).
  RowExchange(std::shared_ptr<Communicator> comm, const torch::Tensor& ids);

  // Owner rank of each global id [n]; throws for ids no rank holds.
  torch::Tensor owners(const torch::Tensor& ids) const;
  // Position of each of this rank's global ids in the `ids` given at construction;
  // throws for ids this rank does not hold.
  torch::Tensor local_positions(const torch::Tensor& ids) const;

  // Collective: rows of `ids` (any ranks' global ids, any order, repeats allowed)
  // from the per-row table `local_values` ([n_r, ...], aligned with this rank's ids),
  // in the order asked. Every rank passes a table of the same trailing shape and dtype.
  torch::Tensor fetch(const torch::Tensor& local_values, const torch::Tensor& ids);
  // The same with the owner computing its answer: `answer(asked_ids)` returns one
  // row per asked id. `bytes_sent` (if set) grows by what this rank sent to others.
  torch::Tensor fetch_with(const std::function<torch::Tensor(const torch::Tensor&)>& answer,
                           const torch::Tensor& ids, std::int64_t* bytes_sent = nullptr);

  std::int64_t total_rows() const { return all_ids_.numel(); }
  const std::shared_ptr<Communicator>& comm() const { return comm_; }

 private:
  std::shared_ptr<Communicator> comm_;
  torch::Tensor my_sorted_, my_order_;  // this rank's ids ascending, and their positions
  torch::Tensor all_ids_;               // int64 [N] every global id, ascending
  torch::Tensor owner_of_;              // int64 [N] owner rank of all_ids_[i]
};

}  // namespace hardy
