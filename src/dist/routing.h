// Grouping rows by destination rank for an alltoallv, and putting answers back in
// the order they were asked.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace hardy {

// Rows grouped by destination rank: `order` is a stable permutation putting the
// rows for rank 0 first, then rank 1, ...; counts[r] rows go to rank r.
struct Routing {
  torch::Tensor order;
  std::vector<std::int64_t> counts;
};
Routing route(const torch::Tensor& owner, int world);

// The inverse of a permutation applied to rows: out[order[i]] = rows[i].
torch::Tensor unpermute(const torch::Tensor& rows, const torch::Tensor& order);

}  // namespace hardy
