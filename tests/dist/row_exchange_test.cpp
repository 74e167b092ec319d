// RowExchange under mpirun at 1, 2 and 3 ranks: owners and fetched rows equal the
// single table every rank could build, for ids in any order, repeated, held by any
// rank (including ranks that hold nothing); unknown ids throw on every rank.
#include "core/error.h"
#include "dist/communicator.h"
#include "dist/mpi_communicator.h"
#include "dist/row_exchange.h"

#include <gtest/gtest.h>

namespace hardy {
namespace {

constexpr std::int64_t kRows = 23;

// Rank r of P holds ids r, r + P, ... shuffled, except that the last rank of three
// or more holds nothing; its table: [id * 10, -id] as floats and id * 7 as int64.
struct Shard {
  torch::Tensor ids, values, labels;
};
Shard shard_of(int rank, int world) {
  const int holders = world >= 3 ? world - 1 : world;
  Shard s;
  s.ids = rank < holders ? torch::arange(rank, kRows, holders, torch::kInt64) : torch::empty({0}, torch::kInt64);
  torch::manual_seed(rank + 1);
  s.ids = s.ids.index_select(0, torch::randperm(s.ids.numel(), torch::kInt64));
  auto f = s.ids.to(torch::kFloat32);
  s.values = torch::stack({f * 10, -f}, 1);
  s.labels = s.ids * 7;
  return s;
}

TEST(RowExchange, FetchesAnyRowsFromTheirOwners) {
  auto comm = mpi_world();
  const int r = comm->rank(), p = comm->size();
  auto shard = shard_of(r, p);
  RowExchange exchange(comm, shard.ids);
  EXPECT_EQ(exchange.total_rows(), kRows);
  // Each rank asks for a different mix, with repeats and its own ids.
  torch::manual_seed(100 + r);
  auto wanted = torch::randint(0, kRows, {31 + 5 * r}, torch::kInt64);
  auto values = exchange.fetch(shard.values, wanted);
  auto f = wanted.to(torch::kFloat32);
  EXPECT_TRUE(values.equal(torch::stack({f * 10, -f}, 1)));
  EXPECT_TRUE(exchange.fetch(shard.labels, wanted).equal(wanted * 7));
  const int holders = p >= 3 ? p - 1 : p;
  EXPECT_TRUE(exchange.owners(wanted).equal(wanted.remainder(holders)));
  if (shard.ids.numel() > 0) {
    auto pos = exchange.local_positions(shard.ids.flip(0));
    EXPECT_TRUE(shard.ids.index_select(0, pos).equal(shard.ids.flip(0)));
  }
  // Asking for nothing is fine too.
  EXPECT_EQ(exchange.fetch(shard.values, torch::empty({0}, torch::kInt64)).size(0), 0);
}

TEST(RowExchange, UnknownIdsThrowOnEveryRank) {
  auto comm = mpi_world();
  auto shard = shard_of(comm->rank(), comm->size());
  RowExchange exchange(comm, shard.ids);
  auto wanted = comm->rank() == 0 ? torch::tensor({std::int64_t{3}, kRows + 4}, torch::kInt64) : torch::tensor({std::int64_t{1}}, torch::kInt64);
  EXPECT_THROW(exchange.fetch(shard.values, wanted), Error);
  EXPECT_THROW(exchange.local_positions(torch::tensor({kRows + 1}, torch::kInt64)), Error);
}

TEST(RowExchange, AnIdHeldTwiceIsRejected) {
  auto comm = mpi_world();
  if (comm->size() < 2) GTEST_SKIP() << "needs two ranks";
  auto ids = torch::tensor({std::int64_t{comm->rank()} + 100, std::int64_t{5}}, torch::kInt64);  // every rank holds id 5
  EXPECT_THROW(RowExchange(comm, ids), Error);
}

}  // namespace
}  // namespace hardy
