#include "train/controls.h"

#include "core/error.h"
#include "data/random.h"
#include "train/random_streams.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace hardy {

namespace {

// A permutation of 0..n-1 (Fisher–Yates with the portable generator).
std::vector<std::int64_t> permutation(std::int64_t n, Random& random) {
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  for (std::int64_t i = n - 1; i > 0; --i) std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(random.below(i + 1))]);
  return p;
}

torch::Tensor as_tensor(const std::vector<std::int64_t>& v) {
  return torch::tensor(v, torch::kInt64);
}

}  // namespace

HardnessScores permute_hardness(const HardnessScores& all, const std::vector<std::string>& conditions,
                                std::uint64_t seed) {
  // Positions in id order, so the draw does not depend on how ranks concatenated rows.
  const auto by_id = std::get<1>(all.rows.sort());
  const std::int64_t n = all.rows.numel();
  HardnessScores out = all;
  for (const auto& c : conditions) {
    Random random(seed, kPermuteHardnessStream + condition_stream(c.c_str()));
    // Sample at id-rank i takes the scores of the sample at id-rank p[i].
    const auto from = by_id.index_select(0, as_tensor(permutation(n, random)));
    for (auto* scores : {&out.direct, &out.indirect, &out.unified}) {
      auto& t = scores->at(c);
      auto permuted = t.clone();
      permuted.index_put_({by_id}, t.index_select(0, from));
      t = permuted;
    }
  }
  return out;
}

Curriculum random_supports(const Curriculum& all, std::uint64_t seed, const std::string& condition) {
  const std::int64_t q = all.query.numel();
  const std::int64_t k = all.top_k();
  Curriculum out = all;
  if (q == 0 || k == 0) return out;
  HARDY_THROW_IF_NOT_MSG(q > 1, "retrieval.random_supports needs at least two training samples, got {}", q);
  const auto [sorted_ids, order] = all.query.sort();
  const auto ids = sorted_ids.contiguous();
  const auto* id = ids.data_ptr<std::int64_t>();
  const auto order_of = order.contiguous();
  const auto* position = order_of.data_ptr<std::int64_t>();
  auto size = all.size.clone().contiguous();
  auto* sizes = size.data_ptr<std::int64_t>();
  auto support = torch::full({q, k}, -1, torch::kInt64);
  auto distance = torch::full({q, k}, std::numeric_limits<float>::infinity(), torch::kFloat32);
  auto s = support.accessor<std::int64_t, 2>();
  auto d = distance.accessor<float, 2>();
  Random random(seed, kRandomSupportsStream + condition_stream(condition.c_str()));
  for (std::int64_t i = 0; i < q; ++i) {  // queries in id order
    const std::int64_t row = position[i];
    const std::int64_t kq = std::min(sizes[row], q - 1);
    sizes[row] = kq;
    std::vector<std::int64_t> drawn;
    while (static_cast<std::int64_t>(drawn.size()) < kq) {  // without replacement, never the query
      const std::int64_t j = random.below(q);
      if (j == i || std::find(drawn.begin(), drawn.end(), j) != drawn.end()) continue;
      drawn.push_back(j);
    }
    for (std::int64_t j = 0; j < kq; ++j) {
      s[row][j] = id[drawn[static_cast<std::size_t>(j)]];
      d[row][j] = std::numeric_limits<float>::quiet_NaN();
    }
  }
  out.support = support;
  out.distance = distance;
  out.size = size;
  return out;
}

}  // namespace hardy
