// Multi-rank smoke test, run by ctest under mpirun at 1, 2 and 3 ranks: the MPI
// communicator's collectives, and sharded corpus reads that together equal a
// single-process read.
#include "data/corpus_reader.h"
#include "core/error.h"
#include "dist/communicator.h"
#include "dist/make_communicator.h"
#include "dist/mpi_communicator.h"
#include "dist/launch.h"
#include "support/corpus_fixtures.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

namespace hardy {
namespace {

std::shared_ptr<Communicator> world() { return mpi_world(); }

TEST(MpiCommunicator, MatchesLauncherEnvironment) {
  auto launch = detect_launch();
  EXPECT_EQ(world()->rank(), launch.rank);
  EXPECT_EQ(world()->size(), launch.world);
}

TEST(MpiCommunicator, AllreduceSumsMaxesAndMins) {
  auto comm = world();
  int r = comm->rank(), p = comm->size();
  auto sum = torch::tensor({1.0 * r, 2.0, -1.0 * r}, torch::kFloat64);
  comm->allreduce(sum, ReduceOp::Sum)->wait();
  EXPECT_DOUBLE_EQ(sum[0].item<double>(), p * (p - 1) / 2.0);
  EXPECT_DOUBLE_EQ(sum[1].item<double>(), 2.0 * p);
  auto mx = torch::tensor({static_cast<std::int64_t>(r)});
  comm->allreduce(mx, ReduceOp::Max)->wait();
  EXPECT_EQ(mx.item<std::int64_t>(), p - 1);
  auto mn = torch::tensor({static_cast<float>(r) + 5});
  auto work = comm->allreduce(mn, ReduceOp::Min);
  work->wait();
  EXPECT_TRUE(work->completed());
  EXPECT_FLOAT_EQ(mn.item<float>(), 5.0f);
}

TEST(MpiCommunicator, BroadcastFromEveryRoot) {
  auto comm = world();
  for (int root = 0; root < comm->size(); ++root) {
    auto t = torch::full({3, 2}, comm->rank() * 10 + 1, torch::kInt32);
    comm->broadcast(t, root)->wait();
    EXPECT_TRUE(t.equal(torch::full({3, 2}, root * 10 + 1, torch::kInt32)));
  }
}

TEST(MpiCommunicator, AllgathervWithUnevenAndEmptyParts) {
  auto comm = world();
  int r = comm->rank();
  // Rank r contributes r rows (rank 0 none) of width 2 holding its rank.
  auto mine = torch::full({r, 2}, static_cast<float>(r));
  auto all = comm->allgatherv(mine);
  std::vector<torch::Tensor> want;
  for (int k = 0; k < comm->size(); ++k) want.push_back(torch::full({k, 2}, static_cast<float>(k)));
  EXPECT_TRUE(all.equal(torch::cat(want)));
}

TEST(MpiCommunicator, AlltoallvDeliversEachBlockToItsRank) {
  auto comm = world();
  const int r = comm->rank(), p = comm->size();
  // Rank r sends (r + d) % 3 rows to rank d, each row = [r, d, i].
  std::vector<std::int64_t> send;
  std::vector<torch::Tensor> rows;
  for (int d = 0; d < p; ++d) {
    std::int64_t n = (r + d) % 3;
    send.push_back(n);
    for (std::int64_t i = 0; i < n; ++i) rows.push_back(torch::tensor({std::int64_t(r), std::int64_t(d), i}));
  }
  auto input = rows.empty() ? torch::empty({0, 3}, torch::kInt64) : torch::stack(rows);
  std::vector<std::int64_t> received;
  auto out = comm->alltoallv(input, send, &received);
  std::vector<torch::Tensor> want;
  for (int s = 0; s < p; ++s) {
    std::int64_t n = (s + r) % 3;
    EXPECT_EQ(received[static_cast<size_t>(s)], n);
    for (std::int64_t i = 0; i < n; ++i) want.push_back(torch::tensor({std::int64_t(s), std::int64_t(r), i}));
  }
  auto expected = want.empty() ? torch::empty({0, 3}, torch::kInt64) : torch::stack(want);
  EXPECT_TRUE(out.equal(expected));
}

TEST(MpiCommunicator, MismatchedRowShapesFailOnEveryRank) {
  auto comm = world();
  if (comm->size() < 2) GTEST_SKIP() << "needs two ranks";
  // Rank 1 sends rows of 3 floats, everybody else rows of 2: every rank must throw
  // (nobody may be left waiting), and the next collective must still work.
  auto bad = torch::zeros({1, comm->rank() == 1 ? 3 : 2});
  EXPECT_THROW(comm->allgatherv(bad), Error);
  std::vector<std::int64_t> none(static_cast<size_t>(comm->size()), 0);
  EXPECT_THROW(comm->alltoallv(torch::zeros({0, comm->rank() == 1 ? 3 : 2}), none, nullptr), Error);
  auto t = torch::ones({1});
  comm->allreduce(t, ReduceOp::Sum)->wait();
  EXPECT_EQ(t.item<float>(), static_cast<float>(comm->size()));
}

TEST(MakeCommunicator, ChoosesTheBackendOrSaysWhyNot) {
  EXPECT_EQ(make_communicator("mpi", 0)->backend(), "mpi");
  if (!torch::cuda::is_available()) {
    // auto without CUDA falls back to MPI; nccl explains what is missing.
    EXPECT_EQ(make_communicator("auto", 0)->backend(), "mpi");
    try {
      make_communicator("nccl", 0);
      ADD_FAILURE() << "nccl without CUDA must fail";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("mpi"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(make_communicator("gloo", 0), Error);
}

TEST(ShardedRead, ShardsTogetherEqualTheSingleProcessRead) {
  auto comm = world();
  // Rank 0 writes the corpus under a name made unique by its pid, shared by broadcast
  // (ctest may run the 1-, 2- and 3-rank variants at the same time).
  auto pid = torch::tensor({static_cast<std::int64_t>(::getpid())});
  comm->broadcast(pid, 0)->wait();
  std::string path = (std::filesystem::temp_directory_path() /
                      ("hardy_mpi_smoke_" + std::to_string(pid.item<std::int64_t>()) + ".h5"))
                         .string();
  testing::TinyCorpus tiny;
  tiny.sequences = 11;
  if (comm->rank() == 0) testing::write_tiny_corpus(path, tiny);
  comm->barrier();

  CorpusReader reader(path);
  auto shard = reader.read_shard(comm->rank(), comm->size());
  auto rows = comm->allgatherv(shard.row);
  auto audio = comm->allgatherv(shard.features[0]);
  auto labels = comm->allgatherv(shard.label);
  auto full = reader.read_all();  // the single-process answer
  EXPECT_TRUE(rows.equal(full.row));
  EXPECT_TRUE(audio.equal(full.features[0]));
  EXPECT_TRUE(labels.equal(full.label));
  comm->barrier();
  if (comm->rank() == 0) std::filesystem::remove(path);
}

}  // namespace
}  // namespace hardy
