#include "retrieval/merge_neighbours.h"

#include "core/error.h"

#include <fmt/ranges.h>

#include <limits>
#include <vector>

namespace hardy {

Neighbours merge_neighbours(const torch::Tensor& distances, const torch::Tensor& ids) {
  HARDY_THROW_IF_NOT_MSG(distances.dim() == 3 && ids.sizes() == distances.sizes(),
                         "merge_neighbours: distances {} and ids {} must both be [shards, queries, k]",
                         distances.sizes().vec(), ids.sizes().vec());
  const auto d = distances.to(torch::kFloat32).contiguous();
  const auto i = ids.to(torch::kInt64).contiguous();
  const std::int64_t shards = d.size(0), nq = d.size(1), k = d.size(2);
  Neighbours out{torch::full({nq, k}, std::numeric_limits<float>::infinity()),
                 torch::full({nq, k}, -1, torch::kInt64)};
  auto* out_d = out.distances.data_ptr<float>();
  auto* out_i = out.ids.data_ptr<std::int64_t>();
  const auto* in_d = d.data_ptr<float>();
  const auto* in_i = i.data_ptr<std::int64_t>();
  std::vector<std::int64_t> head(static_cast<size_t>(shards));
  for (std::int64_t q = 0; q < nq; ++q) {
    std::fill(head.begin(), head.end(), 0);
    for (std::int64_t j = 0; j < k; ++j) {
      std::int64_t best = -1;
      float best_d = 0;
      std::int64_t best_id = -1;
      for (std::int64_t s = 0; s < shards; ++s) {
        const auto h = head[static_cast<size_t>(s)];
        if (h >= k) continue;
        const auto at = (s * nq + q) * k + h;
        const std::int64_t id = in_i[at];
        if (id < 0) continue;  // this shard has no more neighbours
        const float dist = in_d[at];
        if (best < 0 || dist < best_d || (dist == best_d && id < best_id)) {
          best = s;
          best_d = dist;
          best_id = id;
        }
      }
      if (best < 0) break;
      ++head[static_cast<size_t>(best)];
      out_d[q * k + j] = best_d;
      out_i[q * k + j] = best_id;
    }
  }
  return out;
}

}  // namespace hardy
