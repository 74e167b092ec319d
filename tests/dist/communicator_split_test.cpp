// Communicator::split under mpirun at 1 to 5 ranks: groups by colour, ranks ordered
// by key, collectives confined to the group, nested splits, the time-out inherited,
// and the size-1 world splitting into itself.
#include "core/error.h"
#include "dist/communicator.h"
#include "dist/local_communicator.h"
#include "dist/mpi_communicator.h"

#include <gtest/gtest.h>

namespace hardy {
namespace {

// Sum over the group of every member's world rank, by allreduce.
std::int64_t sum_of_world_ranks(Communicator& group, int world_rank) {
  auto t = torch::tensor({static_cast<std::int64_t>(world_rank)}, torch::kInt64);
  group.allreduce(t, ReduceOp::Sum)->wait();
  return t.item<std::int64_t>();
}

TEST(CommunicatorSplit, EvenAndOddRanksFormTwoGroups) {
  auto world = mpi_world();
  const int r = world->rank(), p = world->size();
  auto group = world->split(r % 2, r);
  EXPECT_EQ(group->backend(), world->backend());
  // Members: r % 2, r % 2 + 2, ...
  std::int64_t members = 0, sum = 0;
  for (int k = r % 2; k < p; k += 2) {
    ++members;
    sum += k;
  }
  EXPECT_EQ(group->size(), members);
  EXPECT_EQ(group->rank(), r / 2);
  EXPECT_EQ(sum_of_world_ranks(*group, r), sum);
  // allgatherv inside the group: the world ranks of the members, in group order.
  auto all = group->allgatherv(torch::tensor({static_cast<std::int64_t>(r)}, torch::kInt64));
  ASSERT_EQ(all.size(0), members);
  for (std::int64_t i = 0; i < members; ++i) EXPECT_EQ(all[i].item<std::int64_t>(), r % 2 + 2 * i);
  group->barrier();
}

TEST(CommunicatorSplit, KeyOrdersTheRanksOfAGroup) {
  auto world = mpi_world();
  const int r = world->rank(), p = world->size();
  auto reversed = world->split(0, p - r);  // one group, world order reversed
  EXPECT_EQ(reversed->size(), p);
  EXPECT_EQ(reversed->rank(), p - 1 - r);
  auto t = torch::tensor({static_cast<std::int64_t>(r)}, torch::kInt64);
  reversed->broadcast(t, 0)->wait();  // group rank 0 is world rank p - 1
  EXPECT_EQ(t.item<std::int64_t>(), p - 1);
}

TEST(CommunicatorSplit, GroupsOfAGroupAndTheTimeOutAreInherited) {
  auto world = mpi_world();
  const double before = world->timeout_s();
  world->set_timeout_s(42);
  const int r = world->rank(), p = world->size();
  // Groups of (up to) two consecutive ranks, then each of those split by parity.
  auto pairs = world->split(r / 2, r);
  EXPECT_EQ(pairs->timeout_s(), 42);
  EXPECT_EQ(pairs->size(), std::min(2, p - 2 * (r / 2)));
  auto singles = pairs->split(pairs->rank(), 0);
  EXPECT_EQ(singles->size(), 1);
  EXPECT_EQ(singles->rank(), 0);
  EXPECT_EQ(singles->timeout_s(), 42);
  EXPECT_EQ(sum_of_world_ranks(*singles, r), r);
  // Alltoallv inside a pair: each member sends one row to each member.
  const int n = pairs->size();
  auto rows = torch::full({n, 2}, static_cast<std::int64_t>(r), torch::kInt64);
  std::vector<std::int64_t> recv;
  auto got = pairs->alltoallv(rows, std::vector<std::int64_t>(static_cast<size_t>(n), 1), &recv);
  ASSERT_EQ(got.size(0), n);
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[i][0].item<std::int64_t>(), 2 * (r / 2) + i);
  world->set_timeout_s(before);
}

TEST(CommunicatorSplit, EveryRankAloneAndAllTogether) {
  auto world = mpi_world();
  const int r = world->rank(), p = world->size();
  auto alone = world->split(r, 0);
  EXPECT_EQ(alone->size(), 1);
  EXPECT_EQ(sum_of_world_ranks(*alone, r), r);
  auto together = world->split(7, 0);
  EXPECT_EQ(together->size(), p);
  EXPECT_EQ(together->rank(), r);
  EXPECT_EQ(sum_of_world_ranks(*together, r), static_cast<std::int64_t>(p) * (p - 1) / 2);
}

TEST(CommunicatorSplit, TheLocalWorldSplitsIntoAWorldOfOne) {
  auto local = local_world();
  local->set_timeout_s(9);
  auto group = local->split(3, 1);
  EXPECT_EQ(group->size(), 1);
  EXPECT_EQ(group->rank(), 0);
  EXPECT_EQ(group->backend(), "local");
  EXPECT_EQ(group->timeout_s(), 9);
}

TEST(CommunicatorSplit, ANegativeColourIsAClearError) {
  EXPECT_THROW(mpi_world()->split(-1, 0), Error);
}

}  // namespace
}  // namespace hardy
