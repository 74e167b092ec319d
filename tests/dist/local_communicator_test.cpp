// The size-1 world: every collective is what a world of one rank returns, and the
// shared row-shape bookkeeping of the variable-size collectives.
#include "core/error.h"
#include "dist/collective_errors.h"
#include "dist/local_communicator.h"
#include "dist/row_layout.h"

#include <gtest/gtest.h>

namespace hardy {
namespace {

TEST(LocalCommunicator, IsRankZeroOfOne) {
  auto comm = local_world();
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_TRUE(comm->is_root());
  EXPECT_EQ(comm->backend(), "local");
}

TEST(LocalCommunicator, CollectivesReturnTheInput) {
  auto comm = local_world();
  auto t = torch::arange(6, torch::kFloat32).view({3, 2});
  auto before = t.clone();
  auto work = comm->allreduce(t, ReduceOp::Sum);
  EXPECT_TRUE(work->completed());
  work->wait();
  EXPECT_TRUE(t.equal(before));
  comm->broadcast(t, 0)->wait();
  EXPECT_TRUE(t.equal(before));
  EXPECT_TRUE(comm->allgatherv(t).equal(before));
  std::vector<std::int64_t> from;
  EXPECT_TRUE(comm->alltoallv(t, {3}, &from).equal(before));
  EXPECT_EQ(from, (std::vector<std::int64_t>{3}));
  comm->barrier();
}

TEST(LocalCommunicator, BadArgumentsAreErrors) {
  auto comm = local_world();
  auto t = torch::zeros({3, 2});
  EXPECT_THROW(comm->broadcast(t, 1), Error);
  EXPECT_THROW(comm->alltoallv(t, {2}, nullptr), Error);
  EXPECT_THROW(comm->alltoallv(t, {1, 2}, nullptr), Error);
  EXPECT_THROW(comm->allgatherv(torch::tensor(1.0f)), Error);
}

TEST(CollectiveErrors, AnyExceptionBecomesAMessage) {
  EXPECT_EQ(error_of([] {}), "");
  EXPECT_NE(error_of([] { HARDY_THROW_MSG("bad {}", 1); }).find("bad 1"), std::string::npos);
  // A LibTorch error (not a hardy::Error) must not escape the collective check.
  EXPECT_FALSE(error_of([] { torch::zeros({2}).view({3}); }).empty());
  EXPECT_EQ(error_of([] { throw std::runtime_error("plain"); }), "plain");
  auto comm = local_world();
  EXPECT_NO_THROW(throw_if_any(*comm, "", "test"));
  EXPECT_THROW(throw_if_any(*comm, "it failed", "test"), Error);
}

TEST(RowLayout, RecordsCarryCountsAndCatchShapeMismatches) {
  auto a = torch::zeros({4, 3, 2});
  EXPECT_EQ(elements_per_row(a, "t"), 6);
  auto rec = row_record(a, 4, "t");
  EXPECT_EQ(rec, (std::vector<std::int64_t>{4, 6, static_cast<std::int64_t>(torch::kFloat32)}));
  auto other = row_record(torch::zeros({1, 6}), 1, "t");
  std::vector<std::int64_t> both = rec;
  both.insert(both.end(), other.begin(), other.end());
  EXPECT_EQ(agreed_row_counts(both, "t"), (std::vector<std::int64_t>{4, 1}));
  auto wrong = row_record(torch::zeros({1, 6}, torch::kFloat64), 1, "t");
  std::vector<std::int64_t> mismatch = rec;
  mismatch.insert(mismatch.end(), wrong.begin(), wrong.end());
  EXPECT_THROW(agreed_row_counts(mismatch, "t"), Error);
  EXPECT_EQ(empty_rows_like(a, 7).sizes(), (std::vector<std::int64_t>{7, 3, 2}));
  EXPECT_THROW(checked_int_count(std::int64_t{1} << 31, "t"), Error);
}

}  // namespace
}  // namespace hardy
