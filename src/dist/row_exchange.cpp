#include "dist/row_exchange.h"

#include "core/error.h"

namespace hardy {

namespace {

// Positions of `wanted` in the ascending `sorted`, or the first id missing from it.
torch::Tensor find_sorted(const torch::Tensor& sorted, const torch::Tensor& wanted,
                          std::int64_t* missing) {
  *missing = -1;
  if (wanted.numel() == 0) return torch::empty({0}, torch::kInt64);
  if (sorted.numel() == 0) {
    *missing = wanted[0].item<std::int64_t>();
    return {};
  }
  auto pos = torch::searchsorted(sorted, wanted).clamp_max(sorted.numel() - 1);
  auto found = sorted.index_select(0, pos) == wanted;
  if (!found.all().item<bool>()) {
    *missing = wanted[(~found).nonzero()[0][0]].item<std::int64_t>();
    return {};
  }
  return pos;
}

}  // namespace

RowExchange::RowExchange(std::shared_ptr<Communicator> comm, const torch::Tensor& ids)
    : comm_(std::move(comm)) {
  HARDY_THROW_IF_NOT_MSG(comm_, "a row exchange needs a communicator");
  auto mine = ids.to(torch::kInt64).contiguous().view({-1});
  auto sorted_mine = mine.sort();
  my_sorted_ = std::get<0>(sorted_mine).contiguous();
  my_order_ = std::get<1>(sorted_mine).contiguous();
  auto all = comm_->allgatherv(mine);
  auto owner = comm_->allgatherv(torch::full({mine.numel()}, comm_->rank(), torch::kInt64));
  auto sorted = all.sort();
  all_ids_ = std::get<0>(sorted).contiguous();
  owner_of_ = owner.index_select(0, std::get<1>(sorted)).contiguous();
  if (all_ids_.numel() > 1) {
    auto same = all_ids_.slice(0, 1) == all_ids_.slice(0, 0, -1);
    if (same.any().item<bool>()) {
      auto at = same.nonzero()[0][0].item<std::int64_t>();
      HARDY_THROW_MSG("global id {} is held by rank {} and rank {}; each row must belong to exactly "
                      "one rank",
                      all_ids_[at].item<std::int64_t>(), owner_of_[at].item<std::int64_t>(),
                      owner_of_[at + 1].item<std::int64_t>());
    }
  }
}

torch::Tensor RowExchange::owners(const torch::Tensor& ids) const {
  std::int64_t missing = -1;
  auto pos = find_sorted(all_ids_, ids.to(torch::kInt64).contiguous().view({-1}), &missing);
  HARDY_THROW_IF_NOT_MSG(missing < 0, "global id {} is held by no rank ({} rows over {} ranks)",
                         missing, all_ids_.numel(), comm_->size());
  return owner_of_.index_select(0, pos);
}

torch::Tensor RowExchange::local_positions(const torch::Tensor& ids) const {
  std::int64_t missing = -1;
  auto pos = find_sorted(my_sorted_, ids.to(torch::kInt64).contiguous().view({-1}), &missing);
  HARDY_THROW_IF_NOT_MSG(missing < 0, "global id {} is not among rank {}'s {} rows", missing,
                         comm_->rank(), my_sorted_.numel());
  return my_order_.index_select(0, pos);
}

torch::Tensor RowExchange::fetch_with(const std::function<torch::Tensor(const torch::Tensor&)>& answer,
                                      const torch::Tensor& ids, std::int64_t* bytes_sent) {
  const int world = comm_->size();
  auto wanted = ids.to(torch::kInt64).contiguous().view({-1});
  torch::Tensor owner;
  throw_if_any(*comm_, error_of([&] { owner = owners(wanted); }), "row fetch");
  auto routing = route(owner, world);
  std::vector<std::int64_t> asked_by;
  auto asked = comm_->alltoallv(wanted.index_select(0, routing.order), routing.counts, &asked_by);
  torch::Tensor rows;
  throw_if_any(*comm_, error_of([&] {
                 rows = answer(asked).contiguous();
                 HARDY_THROW_IF_NOT_MSG(rows.dim() >= 1 && rows.size(0) == asked.size(0),
                                        "row fetch: {} rows answered for {} ids", rows.size(0),
                                        asked.size(0));
               }),
               "row fetch");
  auto answers = comm_->alltoallv(rows, asked_by, nullptr);
  if (bytes_sent) {
    const std::int64_t row_bytes = rows.size(0) > 0 ? rows.nbytes() / rows.size(0) : 0;
    for (int r = 0; r < world; ++r)
      if (r != comm_->rank()) *bytes_sent += routing.counts[static_cast<size_t>(r)] * 8 + asked_by[static_cast<size_t>(r)] * row_bytes;
  }
  return unpermute(answers, routing.order);
}

torch::Tensor RowExchange::fetch(const torch::Tensor& local_values, const torch::Tensor& ids) {
  return fetch_with(
      [&](const torch::Tensor& asked) {
        HARDY_THROW_IF_NOT_MSG(local_values.size(0) == my_sorted_.numel(),
                               "row fetch: the table has {} rows, the rank holds {} ids",
                               local_values.size(0), my_sorted_.numel());
        return local_values.index_select(0, local_positions(asked));
      },
      ids);
}

}  // namespace hardy
