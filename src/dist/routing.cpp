#include "dist/routing.h"

namespace hardy {

Routing route(const torch::Tensor& owner, int world) {
  Routing r;
  r.order = std::get<1>(owner.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
  auto counts = torch::bincount(owner, {}, world).to(torch::kInt64).contiguous();
  r.counts.assign(counts.data_ptr<std::int64_t>(), counts.data_ptr<std::int64_t>() + world);
  return r;
}

torch::Tensor unpermute(const torch::Tensor& rows, const torch::Tensor& order) {
  auto out = torch::empty_like(rows);
  if (rows.size(0) > 0) out.index_copy_(0, order, rows);
  return out;
}

}  // namespace hardy
