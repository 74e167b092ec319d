// Bucket assignment is pure logic: tested here without MPI.
#include "core/error.h"
#include "dist/bucket_assignment.h"

#include <gtest/gtest.h>

namespace hardy {
namespace {

using Buckets = std::vector<std::vector<std::int64_t>>;

TEST(BucketAssignment, ReverseOrderClosesABucketOnceItReachesTheLimit) {
  // Visited 4, 3, 2, 1, 0. A bucket closes once it holds >= 10 bytes: {6, 8} = 14,
  // then {4, 4, 4} = 12.
  auto b = assign_buckets({4, 4, 4, 8, 6}, {0, 0, 0, 0, 0}, 10, 10);
  EXPECT_EQ(b, (Buckets{{4, 3}, {2, 1, 0}}));
  // A bucket holding exactly the limit closes too.
  EXPECT_EQ(assign_buckets({5, 5, 5}, {0, 0, 0}, 10, 10), (Buckets{{2, 1}, {0}}));
}

TEST(BucketAssignment, ASmallFirstBucketStartsTheFirstAllreduceEarly) {
  auto b = assign_buckets({4, 4, 4, 4, 4, 4}, std::vector<std::int64_t>(6, 0), 12, 4);
  EXPECT_EQ(b, (Buckets{{5}, {4, 3, 2}, {1, 0}}));
}

TEST(BucketAssignment, ADifferentDtypeOrDeviceStartsANewBucket) {
  auto b = assign_buckets({1, 1, 1, 1}, {7, 7, 9, 9}, 100, 100);
  EXPECT_EQ(b, (Buckets{{3, 2}, {1, 0}}));
}

TEST(BucketAssignment, EveryParameterLandsInExactlyOneBucket) {
  std::vector<std::int64_t> bytes, keys;
  for (int i = 0; i < 50; ++i) {
    bytes.push_back(1 + (i * 37) % 11);
    keys.push_back(i / 20);
  }
  auto b = assign_buckets(bytes, keys, 16, 3);
  std::vector<int> seen(50, 0);
  for (const auto& bucket : b)
    for (auto i : bucket) ++seen[static_cast<size_t>(i)];
  for (int n : seen) EXPECT_EQ(n, 1);
}

TEST(BucketAssignment, NoParametersNoBuckets) {
  EXPECT_TRUE(assign_buckets({}, {}, 10, 10).empty());
}

TEST(BucketAssignment, BadInputIsAnError) {
  EXPECT_THROW(assign_buckets({1, 2}, {0}, 10, 10), Error);
  EXPECT_THROW(assign_buckets({1}, {0}, 0, 10), Error);
}

}  // namespace
}  // namespace hardy
