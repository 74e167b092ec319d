#include "retrieval/sharded_retrieval.h"

#include "core/error.h"
#include "core/modality.h"
#include "retrieval/merge_neighbours.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

namespace hardy {

namespace {

// Collective error check with this class's wording.
void throw_if_any(Communicator& comm, const std::string& error) {
  hardy::throw_if_any(comm, error, "sharded feature database");
}

// Row offsets of consecutive blocks of `counts` rows.
std::vector<std::int64_t> offsets(const std::vector<std::int64_t>& counts) {
  std::vector<std::int64_t> out(counts.size() + 1, 0);
  for (size_t i = 0; i < counts.size(); ++i) out[i + 1] = out[i] + counts[i];
  return out;
}

// One (distance, id) result list entry packed as 12 bytes, as docs/design.md §6 counts it.
constexpr std::int64_t kResultBytes = sizeof(float) + sizeof(std::int64_t);

}  // namespace

ShardedRetrieval::ShardedRetrieval(std::shared_ptr<Communicator> comm,
                                   const PerModality<torch::Tensor>& features,
                                   const torch::Tensor& ids,
                                   const PerModality<IndexOptions>& options)
    : comm_(std::move(comm)) {
  HARDY_THROW_IF_NOT_MSG(comm_, "a sharded feature database needs a communicator");
  throw_if_any(*comm_, error_of([&] {
                 for (const auto& f : features)
                   HARDY_THROW_IF_NOT_MSG(f.dim() == 2, "shard features must be [n, dim]");
                 shard_ = std::make_unique<LocalRetrieval>(features, ids, options);
               }));
  for (std::size_t m = 0; m < features.size(); ++m) {
    dims_.push_back(features[m].size(1));
    names_.push_back(options[m].modality);
  }
  // Every rank must describe the same database: same dims, disjoint ids.
  const auto modalities = static_cast<std::int64_t>(dims_.size());
  auto dims = comm_->allgatherv(torch::tensor(dims_).view({1, modalities}));
  for (int r = 0; r < comm_->size(); ++r)
    HARDY_THROW_IF_NOT_MSG(dims[r].equal(dims[0]),
                           "sharded feature database: rank {} has dims {} ({}), rank 0 has {}; every "
                           "rank must read the same corpus",
                           r, fmt::join(std::vector<std::int64_t>(dims[r].data_ptr<std::int64_t>(), dims[r].data_ptr<std::int64_t>() + modalities), "/"),
                           fmt::join(names_, "/"),
                           fmt::join(std::vector<std::int64_t>(dims[0].data_ptr<std::int64_t>(), dims[0].data_ptr<std::int64_t>() + modalities), "/"));
  directory_ = std::make_unique<RowExchange>(comm_, ids);
}

torch::Tensor ShardedRetrieval::owners(const torch::Tensor& ids) const {
  return directory_->owners(ids);
}

std::int64_t ShardedRetrieval::rounds(std::int64_t local) {
  auto t = torch::tensor({local}, torch::kInt64);
  comm_->allreduce(t, ReduceOp::Max)->wait();
  return t.item<std::int64_t>();
}

Neighbours ShardedRetrieval::search(int modality, const torch::Tensor& queries, std::int64_t k) {
  const auto& names = names_;
  HARDY_THROW_IF_NOT_MSG(modality >= 0 && modality < static_cast<int>(dims_.size()), "no modality {}", modality);
  throw_if_any(*comm_, error_of([&] {
                 HARDY_THROW_IF_NOT_MSG(k >= 1, "{} search: k must be >= 1, got {}", names[modality], k);
                 HARDY_THROW_IF_NOT_MSG(queries.dim() == 2 && queries.size(1) == dims_[modality],
                                        "{} search on rank {}: queries must be [Q, {}], got {} dims "
                                        "of which the last is {} (wrong modality or feature dim?)",
                                        names[modality], comm_->rank(), dims_[modality],
                                        queries.dim(), queries.dim() ? queries.size(-1) : 0);
               }));
  const int world = comm_->size();
  auto mine = queries.to(torch::kFloat32).contiguous();
  const std::int64_t nq = mine.size(0);

  // 1. every rank's queries to every rank.
  auto counts_t = comm_->allgatherv(torch::tensor({nq}, torch::kInt64)).contiguous();
  std::vector<std::int64_t> counts(counts_t.data_ptr<std::int64_t>(),
                                   counts_t.data_ptr<std::int64_t>() + world);
  auto all = comm_->allgatherv(mine);

  // 2. top-k of all queries in this shard.
  auto local = shard_->search(modality, all, k);
  const std::int64_t total = all.size(0);
  auto packed = torch::empty({total, k * kResultBytes}, torch::kUInt8);
  {
    auto* out = packed.data_ptr<std::uint8_t>();
    const auto* dist = local.distances.contiguous().data_ptr<float>();
    const auto* ids = local.ids.contiguous().data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < total; ++i) {
      std::memcpy(out + i * k * kResultBytes, dist + i * k, sizeof(float) * k);
      std::memcpy(out + i * k * kResultBytes + sizeof(float) * k, ids + i * k,
                  sizeof(std::int64_t) * k);
    }
  }

  // 3. results back to the queries' owners: rank r's queries are its block of `all`.
  std::vector<std::int64_t> from;
  auto received = comm_->alltoallv(packed, counts, &from).contiguous();

  // 4. merge the P sorted lists of each query: row r·nq + q holds rank r's k
  // distances (float32) then its k ids (int64) for query q.
  auto lists = received.view({world * nq, k * kResultBytes});
  // Copied into fresh tensors with standard strides: a narrowed view (of a single
  // row, say) keeps its byte offset and row stride, which cannot be viewed as int64.
  const std::int64_t rows = world * nq, dbytes = static_cast<std::int64_t>(sizeof(float)) * k,
                     ibytes = static_cast<std::int64_t>(sizeof(std::int64_t)) * k;
  auto distances = torch::empty({rows, dbytes}, torch::kUInt8);
  auto ids = torch::empty({rows, ibytes}, torch::kUInt8);
  distances.copy_(lists.narrow(1, 0, dbytes));
  ids.copy_(lists.narrow(1, dbytes, ibytes));
  auto out = merge_neighbours(distances.view(torch::kFloat32).view({world, nq, k}),
                              ids.view(torch::kInt64).view({world, nq, k}));

  traffic_.queries += nq;
  traffic_.query_bytes += mine.numel() * 4 * (world - 1);
  traffic_.result_bytes += (total - nq) * k * kResultBytes;
  return out;
}

torch::Tensor ShardedRetrieval::integrated_distance(const PerModality<torch::Tensor>& query_features,
                                                    const torch::Tensor& pair_query,
                                                    const torch::Tensor& candidate_ids) {
  const int world = comm_->size();
  const int me = comm_->rank();
  auto candidates = candidate_ids.to(torch::kInt64).contiguous();
  auto pairs_of = pair_query.to(torch::kInt64).contiguous();
  HARDY_THROW_IF_NOT_MSG(candidates.numel() == pairs_of.numel(),
                         "integrated distance: {} candidates for {} pair queries", candidates.numel(),
                         pairs_of.numel());
  torch::Tensor owner;
  throw_if_any(*comm_, error_of([&] { owner = owners(candidates); }));
  auto routing = route(owner, world);
  auto cand = candidates.index_select(0, routing.order);
  auto pq = pairs_of.index_select(0, routing.order);

  // Each destination gets the features of the distinct queries it needs once, and
  // (query index within that block, candidate id) per pair.
  auto pair_at = offsets(routing.counts);
  std::vector<torch::Tensor> send_queries, send_pairs;
  std::vector<std::int64_t> query_counts(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    auto block = pq.slice(0, pair_at[r], pair_at[r + 1]);
    auto unique = torch::_unique(block, /*sorted=*/true, /*return_inverse=*/true);
    send_queries.push_back(std::get<0>(unique));
    query_counts[static_cast<size_t>(r)] = std::get<0>(unique).numel();
    send_pairs.push_back(torch::stack({std::get<1>(unique).to(torch::kInt64),
                                       cand.slice(0, pair_at[r], pair_at[r + 1])},
                                      1));
  }
  auto wanted = torch::cat(send_queries);
  std::vector<torch::Tensor> parts;
  for (const auto& q : query_features) parts.push_back(q.to(torch::kFloat32).index_select(0, wanted));
  auto features_out = torch::cat(parts, 1);
  auto pairs_out = torch::cat(send_pairs).view({-1, 2});

  std::vector<std::int64_t> query_from, pairs_from;
  auto features_in = comm_->alltoallv(features_out, query_counts, &query_from);
  auto pairs_in = comm_->alltoallv(pairs_out, routing.counts, &pairs_from).contiguous();

  // As the owner: the distances of every pair sent here.
  auto query_at = offsets(query_from);
  auto pair_in_at = offsets(pairs_from);
  auto local_query = pairs_in.select(1, 0).clone();
  for (int r = 0; r < world; ++r)
    local_query.slice(0, pair_in_at[r], pair_in_at[r + 1]) += query_at[r];
  PerModality<torch::Tensor> received;
  std::int64_t column = 0;
  for (auto dim : dims_) {
    received.push_back(features_in.slice(1, column, column + dim));
    column += dim;
  }
  auto answers = shard_->integrated_distance(received, local_query, pairs_in.select(1, 1).contiguous())
                     .to(torch::kFloat32)
                     .contiguous();
  auto distances = comm_->alltoallv(answers, pairs_from, nullptr);

  std::int64_t row_bytes = 0;
  for (auto dim : dims_) row_bytes += 4 * dim;
  for (int r = 0; r < world; ++r) {
    if (r == me) continue;
    traffic_.distance_bytes += query_counts[r] * row_bytes + routing.counts[r] * 16 + pairs_from[r] * 4;
  }
  return unpermute(distances, routing.order);
}

PerModality<torch::Tensor> ShardedRetrieval::fetch_features(const torch::Tensor& ids) {
  auto rows = directory_->fetch_with(
      [&](const torch::Tensor& asked) {
        auto found = shard_->features_of(asked);
        std::vector<torch::Tensor> parts;
        for (const auto& f : found) parts.push_back(f.to(torch::kFloat32));
        return torch::cat(parts, 1);
      },
      ids, &traffic_.feature_bytes);
  PerModality<torch::Tensor> out;
  std::int64_t column = 0;
  for (auto dim : dims_) {
    out.push_back(rows.slice(1, column, column + dim).contiguous());
    column += dim;
  }
  return out;
}

}  // namespace hardy
