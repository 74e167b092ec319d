// The sharded feature database under mpirun at 1–5 ranks, against one LocalRetrieval
// over all rows: search results (ids and distances) equal, ties to the smaller id,
// empty shards, k larger than a shard, integrated distances and feature fetches
// equal, and bad input failing on every rank without a hang.
#include "core/error.h"
#include "dist/communicator.h"
#include "dist/mpi_communicator.h"
#include "retrieval/sharded_retrieval.h"

#include <gtest/gtest.h>

namespace hardy {
namespace {

std::shared_ptr<Communicator> world() { return mpi_world(); }

// A database every rank can build identically: n rows with non-contiguous, shuffled
// global ids; the last `duplicates` rows repeat the first ones exactly, so equal
// distances must resolve by id. Integer-valued features make every distance exact.
struct Database {
  PerModality<torch::Tensor> features;
  torch::Tensor ids;
  PerModality<IndexOptions> options = PerModality<IndexOptions>(3);
};

Database make_database(std::int64_t n, bool integer_valued, Metric text_metric,
                       std::int64_t duplicates = 12) {
  torch::manual_seed(11);
  Database db;
  db.features.resize(3);
  const std::vector<std::int64_t> dims{6, 5, 4};
  for (int m = 0; m < 3; ++m) {
    auto f = integer_valued ? torch::randint(-3, 4, {n, dims[m]}).to(torch::kFloat32)
                            : torch::randn({n, dims[m]});
    auto d = std::min(duplicates, n / 2);
    f.slice(0, n - d, n).copy_(f.slice(0, 0, d));
    db.features[m] = f;
  }
  db.ids = torch::randperm(n, torch::kInt64) * 3 + 5;
  db.options[1].metric = text_metric;
  return db;
}

// Rank r's rows: an interleaved, uneven split; with 3+ ranks rank 1 holds nothing.
torch::Tensor my_rows(std::int64_t n, int rank, int size) {
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < n; ++i) {
    int owner = static_cast<int>((i * 7 + i / 5) % size);
    if (size >= 3 && owner == 1) owner = 2;
    if (owner == rank) rows.push_back(i);
  }
  return torch::tensor(rows, torch::kInt64);
}

PerModality<torch::Tensor> select(const PerModality<torch::Tensor>& f, const torch::Tensor& rows) {
  PerModality<torch::Tensor> out;
  for (const auto& t : f) out.push_back(t.index_select(0, rows));
  return out;
}

// Rank r's queries: (r * 5 + 3) % 11 of them (some ranks have none), half of them
// copies of database rows (exact hits, ties with their duplicates).
PerModality<torch::Tensor> my_queries(const Database& db, int rank, bool integer_valued) {
  std::int64_t nq = (rank * 5 + 3) % 11;
  torch::manual_seed(100 + rank);
  PerModality<torch::Tensor> q(3);
  for (int m = 0; m < 3; ++m) {
    auto d = db.features[m].size(1);
    q[m] = integer_valued ? torch::randint(-3, 4, {nq, d}).to(torch::kFloat32) : torch::randn({nq, d});
    for (std::int64_t i = 0; i < nq; i += 2) q[m][i].copy_(db.features[m][(i * 13 + rank) % db.ids.numel()]);
  }
  return q;
}

void expect_search_equal(bool integer_valued, Metric text_metric, std::int64_t n) {
  auto comm = world();
  auto db = make_database(n, integer_valued, text_metric);
  LocalRetrieval single(db.features, db.ids, db.options);
  auto rows = my_rows(n, comm->rank(), comm->size());
  ShardedRetrieval sharded(comm, select(db.features, rows), db.ids.index_select(0, rows), db.options);
  EXPECT_EQ(sharded.total_rows(), n);
  auto queries = my_queries(db, comm->rank(), integer_valued);
  for (std::int64_t k : {std::int64_t{1}, std::int64_t{4}, std::int64_t{9}, n + 3}) {  // n + 3: more than any shard, more than all rows
    for (int m = 0; m < 3; ++m) {
      auto want = single.search(m, queries[m], k);
      auto got = sharded.search(m, queries[m], k);
      EXPECT_TRUE(got.ids.equal(want.ids)) << "modality " << m << " k " << k << " rank " << comm->rank()
                                           << "\n" << got.ids << "\n" << want.ids;
      EXPECT_TRUE(got.distances.equal(want.distances)) << "modality " << m << " k " << k;
    }
  }
}

TEST(ShardedSearch, ExactIntegerFeaturesEqualOneIndex) { expect_search_equal(true, Metric::InnerProduct, 90); }
TEST(ShardedSearch, GaussianFeaturesEqualOneIndex) { expect_search_equal(false, Metric::InnerProduct, 150); }
TEST(ShardedSearch, AllEuclideanEqualsOneIndex) { expect_search_equal(false, Metric::L2, 60); }
TEST(ShardedSearch, FewerRowsThanRanks) { expect_search_equal(true, Metric::L2, 3); }

TEST(ShardedSearch, TiesGoToTheSmallerGlobalId) {
  auto comm = world();
  // Every row identical: the top-k must be the k smallest ids, wherever they live.
  const std::int64_t n = 40;
  Database db;
  for (int m = 0; m < 3; ++m) db.features.push_back(torch::ones({n, 3}));
  torch::manual_seed(3);
  db.ids = torch::randperm(n, torch::kInt64) * 2 + 1;
  auto rows = my_rows(n, comm->rank(), comm->size());
  ShardedRetrieval sharded(comm, select(db.features, rows), db.ids.index_select(0, rows), db.options);
  auto got = sharded.search(0, torch::ones({2, 3}), 5);
  auto want = (torch::arange(5, torch::kInt64) * 2 + 1).unsqueeze(0).expand({2, 5});
  EXPECT_TRUE(got.ids.equal(want)) << got.ids;
  EXPECT_TRUE(got.distances.equal(torch::zeros({2, 5})));
}

TEST(ShardedSearch, IntegratedDistancesAndFeaturesComeFromTheOwners) {
  auto comm = world();
  const std::int64_t n = 70;
  auto db = make_database(n, false, Metric::InnerProduct);
  LocalRetrieval single(db.features, db.ids, db.options);
  auto rows = my_rows(n, comm->rank(), comm->size());
  ShardedRetrieval sharded(comm, select(db.features, rows), db.ids.index_select(0, rows), db.options);
  auto queries = my_queries(db, comm->rank(), false);
  const auto nq = queries[0].size(0);
  torch::manual_seed(200 + comm->rank());
  const std::int64_t pairs = nq * 4;
  auto pair_query = nq ? torch::randint(0, nq, {pairs}, torch::kInt64) : torch::empty({0}, torch::kInt64);
  auto candidates = db.ids.index_select(0, torch::randint(0, n, {nq ? pairs : 0}, torch::kInt64));
  auto got = sharded.integrated_distance(queries, pair_query, candidates);
  auto want = single.integrated_distance(queries, pair_query, candidates);
  EXPECT_TRUE(got.equal(want)) << got << want;

  auto fetched = sharded.fetch_features(candidates);
  auto expected = single.features_of(candidates);
  for (int m = 0; m < 3; ++m) EXPECT_TRUE(fetched[m].equal(expected[m])) << "modality " << m;
  if (comm->size() > 1 && nq > 0) {
    EXPECT_GT(sharded.traffic().feature_bytes, 0);
  }
}

TEST(ShardedSearch, BadInputFailsOnEveryRankAndLeavesTheGroupUsable) {
  auto comm = world();
  const std::int64_t n = 30;
  auto db = make_database(n, true, Metric::L2);
  auto rows = my_rows(n, comm->rank(), comm->size());
  ShardedRetrieval sharded(comm, select(db.features, rows), db.ids.index_select(0, rows), db.options);
  // Wrong query dim on the last rank only: every rank throws.
  auto dim = comm->rank() == comm->size() - 1 ? 7 : 6;
  EXPECT_THROW(sharded.search(0, torch::zeros({2, dim}), 3), Error);
  EXPECT_THROW(sharded.search(0, torch::zeros({2, 6}), 0), Error);
  // An id no rank holds, asked by rank 0 only.
  auto ids = comm->rank() == 0 ? torch::tensor({std::int64_t{4}}) : torch::empty({0}, torch::kInt64);
  EXPECT_THROW(sharded.fetch_features(ids), Error);
  // The group still works afterwards.
  auto ok = sharded.search(0, db.features[0].slice(0, 0, 1), 1);
  EXPECT_EQ(ok.distances[0][0].item<float>(), 0.f);
}

TEST(ShardedSearch, AnIdOnTwoRanksIsRejectedEverywhere) {
  auto comm = world();
  if (comm->size() < 2) GTEST_SKIP() << "needs two ranks";
  PerModality<torch::Tensor> f{torch::ones({1, 2}), torch::ones({1, 2}), torch::ones({1, 2})};
  auto id = torch::tensor({std::int64_t{comm->rank() < 2 ? 9 : 10 + comm->rank()}});
  EXPECT_THROW(ShardedRetrieval(comm, f, id, PerModality<IndexOptions>(3)), Error);
}

TEST(ShardedSearch, NanFeaturesOnOneRankAreRejectedEverywhere) {
  auto comm = world();
  PerModality<torch::Tensor> f{torch::ones({1, 2}), torch::ones({1, 2}), torch::ones({1, 2})};
  if (comm->rank() == comm->size() - 1) f[2][0][1] = NAN;
  auto id = torch::tensor({std::int64_t{comm->rank()}});
  EXPECT_THROW(ShardedRetrieval(comm, f, id, PerModality<IndexOptions>(3)), Error);
}

}  // namespace
}  // namespace hardy
