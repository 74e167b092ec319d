// The CCC loss of a global batch split over the ranks (train/task_loss.h), run by
// ctest under mpirun at 1, 2 and 3 ranks: the values summed over the ranks equal the
// single-process loss and the summed gradients its gradient, also when a rank holds
// none of the batch.
#include "dist/mpi_communicator.h"
#include "model/losses.h"
#include "train/task_loss.h"

#include <gtest/gtest.h>

namespace hardy {
namespace {

constexpr std::int64_t kTargets = 3, kDim = 5, kSteps = 4;

struct Batch {
  torch::Tensor x, y, real;  // [B, T, D], [B, T, K], [B, T]
};

// The same batch on every rank: a fixed seed, padding at the end of some sequences.
Batch make_batch(std::int64_t sequences, std::int64_t length) {
  torch::manual_seed(7);
  Batch b{torch::randn({sequences, length, kDim}, torch::kFloat64),
          1.0 + 6.0 * torch::rand({sequences, length, kTargets}, torch::kFloat64),
          torch::ones({sequences, length}, torch::kBool)};
  for (std::int64_t i = 0; i < sequences; i += 2) b.real[i][length - 1] = false;
  b.y.masked_fill_(~b.real.unsqueeze(-1), NAN);  // padding must not matter
  return b;
}

torch::Tensor predict(const Batch& b, const torch::Tensor& w, const torch::Tensor& rows) {
  return torch::matmul(b.x.index_select(0, rows), w);
}

// Rank r holds sequences r, r + P, ... (none when r >= sequences).
void check_split_equals_whole(std::int64_t sequences) {
  auto comm = mpi_world();
  const auto rank = comm->rank(), size = comm->size();
  auto b = make_batch(sequences, 3);
  torch::manual_seed(11);
  auto w = torch::randn({kDim, kTargets}, torch::kFloat64).requires_grad_(true);
  for (std::int64_t step = 0; step < kSteps; ++step) {  // a few SGD steps: the paths stay equal
    auto all = torch::arange(sequences);
    auto whole = 1.0 - ccc_from_statistics(ccc_statistics(predict(b, w, all), b.y, b.real)).mean();
    auto expected_grad = torch::autograd::grad({whole}, {w})[0];

    auto mine = torch::arange(rank, sequences, size);
    torch::Tensor value = torch::zeros({1}, torch::kFloat64), grad = torch::zeros_like(w);
    if (mine.numel() == 0) {
      join_global_batch_ccc_loss(kTargets, torch::kCPU, *comm);
    } else {
      auto real = b.real.index_select(0, mine);
      const double share = real.sum().item<double>() / b.real.sum().item<double>();
      auto loss = global_batch_ccc_loss(predict(b, w, mine), b.y.index_select(0, mine), real, share, *comm) * share;
      value = loss.detach().reshape({1}).clone();
      grad = torch::autograd::grad({loss}, {w})[0];
    }
    comm->allreduce(value, ReduceOp::Sum)->wait();
    comm->allreduce(grad, ReduceOp::Sum)->wait();
    EXPECT_NEAR(value.item<double>(), whole.item<double>(), 1e-12) << "step " << step << " at P = " << size;
    EXPECT_TRUE(torch::allclose(grad, expected_grad, 1e-9, 1e-12))
        << "step " << step << " at P = " << size << "\n" << grad << "\n" << expected_grad;
    torch::NoGradGuard no_grad;
    w -= 0.5 * expected_grad;
  }
}

TEST(GlobalBatchCccLoss, SplitOverRanksEqualsOneProcess) { check_split_equals_whole(7); }

TEST(GlobalBatchCccLoss, RanksHoldingNothingJoin) { check_split_equals_whole(2); }

TEST(GlobalBatchCccLoss, OneProcessIsPlainCcc) {
  // Hand-computed: p = (1, 2, 3), y = (2, 2, 4) -> CCC = 2/3, loss 1/3 (tests/model).
  auto p = torch::tensor({1.0, 2.0, 3.0}, torch::kFloat64).view({1, 3, 1});
  auto y = torch::tensor({2.0, 2.0, 4.0}, torch::kFloat64).view({1, 3, 1});
  auto real = torch::ones({1, 3}, torch::kBool);
  auto comm = mpi_world();
  // Every rank passes the whole batch with share 1 / P: the statistics are P times the
  // batch's, which leaves the CCC unchanged.
  auto loss = global_batch_ccc_loss(p, y, real, 1.0 / comm->size(), *comm);
  EXPECT_NEAR(loss.item<double>(), 1.0 / 3.0, 1e-12);
}

}  // namespace
}  // namespace hardy
