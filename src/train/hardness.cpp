#include "train/hardness.h"

#include "core/error.h"

#include <algorithm>

namespace hardy {

void HardnessRange::include(const torch::Tensor& direct, const torch::Tensor& indirect) {
  HARDY_THROW_IF_NOT_MSG(direct.sizes() == indirect.sizes(),
                         "hardness: {} direct scores but {} indirect scores", direct.numel(),
                         indirect.numel());
  if (direct.numel() == 0) return;
  direct_min = std::min(direct_min, direct.min().item<double>());
  direct_max = std::max(direct_max, direct.max().item<double>());
  indirect_min = std::min(indirect_min, indirect.min().item<double>());
  indirect_max = std::max(indirect_max, indirect.max().item<double>());
}

void HardnessRange::merge(const HardnessRange& o) {
  direct_min = std::min(direct_min, o.direct_min);
  direct_max = std::max(direct_max, o.direct_max);
  indirect_min = std::min(indirect_min, o.indirect_min);
  indirect_max = std::max(indirect_max, o.indirect_max);
}

torch::Tensor HardnessRange::to_max_tensor() const {
  return torch::tensor({-direct_min, direct_max, -indirect_min, indirect_max}, torch::kFloat64);
}

HardnessRange HardnessRange::from_max_tensor(const torch::Tensor& t) {
  auto v = t.to(torch::kFloat64).contiguous();
  auto* p = v.data_ptr<double>();
  HardnessRange r;
  r.direct_min = -p[0];
  r.direct_max = p[1];
  r.indirect_min = -p[2];
  r.indirect_max = p[3];
  return r;
}

torch::Tensor min_max_normalise(const torch::Tensor& x, double lo, double hi) {
  if (!(hi > lo)) return torch::zeros_like(x);
  return ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
}

torch::Tensor unified_hardness(const torch::Tensor& direct, const torch::Tensor& indirect,
                               const HardnessRange& range, const HardnessOptions& o) {
  auto score = torch::zeros_like(direct, torch::kFloat64);
  if (o.use_direct)
    score = score + o.alpha * min_max_normalise(direct.to(torch::kFloat64), range.direct_min,
                                                range.direct_max);
  if (o.use_indirect)
    score = score + o.beta * min_max_normalise(indirect.to(torch::kFloat64), range.indirect_min,
                                               range.indirect_max);
  if (o.centered) score = score - (o.alpha + o.beta) / 2.0;
  return torch::sigmoid(o.gamma * score).to(torch::kFloat32);
}

torch::Tensor hardness_quintiles(const torch::Tensor& ids, const torch::Tensor& h, std::int64_t rows) {
  auto out = torch::full({rows}, -1, torch::kInt64);
  const auto n = ids.numel();
  if (n == 0) return out;
  // By id, then stably by hardness: equal hardness keeps the id order.
  const auto by_id = std::get<1>(ids.sort());
  const auto h_by_id = h.index_select(0, by_id).to(torch::kFloat64);
  const auto order = by_id.index_select(0, std::get<1>(h_by_id.sort(/*stable=*/true, 0, false)));
  const auto quintile = (torch::arange(n, torch::kInt64) * kHardnessQuintiles).div(n, "floor");
  out.index_put_({ids.index_select(0, order)}, quintile);
  return out;
}

torch::Tensor rank_quantile(const torch::Tensor& values, const torch::Tensor& population) {
  const auto n = population.numel();
  if (n == 0) return torch::zeros_like(values, torch::kFloat64);
  auto sorted = std::get<0>(population.to(torch::kFloat64).sort());
  auto at_or_below = torch::searchsorted(sorted, values.to(torch::kFloat64), /*out_int32=*/false, /*right=*/true);
  return at_or_below.to(torch::kFloat64) / static_cast<double>(n);
}

torch::Tensor rank_unified_hardness(const torch::Tensor& direct, const torch::Tensor& indirect,
                                    const torch::Tensor& all_direct, const torch::Tensor& all_indirect,
                                    const HardnessOptions& o) {
  auto combine = [&](const torch::Tensor& d, const torch::Tensor& i) {
    auto score = torch::zeros_like(d, torch::kFloat64);
    if (o.use_direct) score = score + o.alpha * rank_quantile(d, all_direct);
    if (o.use_indirect) score = score + o.beta * rank_quantile(i, all_indirect);
    return score;
  };
  return rank_quantile(combine(direct, indirect), combine(all_direct, all_indirect)).to(torch::kFloat32);
}

}  // namespace hardy
