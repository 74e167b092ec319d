// A rank's device: chosen from training.device and the launch layout, one GPU per
// local rank, with a clear error for impossible layouts. Runs with or without a GPU
// (the CUDA cases skip, saying so, where none is visible).
#include "core/error.h"
#include "dist/device.h"

#include <gtest/gtest.h>

namespace hardy {
namespace {

LaunchInfo layout(int local_rank, int local_world) {
  LaunchInfo l;
  l.rank = local_rank;
  l.world = local_world;
  l.local_rank = local_rank;
  l.local_world = local_world;
  return l;
}

TEST(Device, CpuIsAlwaysTheCpu) {
  EXPECT_EQ(select_rank_device("cpu", layout(0, 1)), torch::Device(torch::kCPU));
  EXPECT_EQ(select_rank_device("cpu", layout(3, 64)), torch::Device(torch::kCPU));
  EXPECT_EQ(resolve_device("cpu"), torch::Device(torch::kCPU));
}

TEST(Device, UnknownSettingIsAnError) { EXPECT_THROW(wants_cuda("gpu"), Error); }

TEST(Device, WithoutAGpuAutoIsTheCpuAndCudaIsAnError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is visible: the no-GPU case is not checked here";
  EXPECT_EQ(select_rank_device("auto", layout(0, 1)), torch::Device(torch::kCPU));
  try {
    select_rank_device("cuda", layout(0, 1));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device is usable"), std::string::npos) << e.what();
  }
}

TEST(Device, OneGpuPerLocalRank) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible: device selection not checked here";
  const auto n = static_cast<int>(torch::cuda::device_count());
  for (int r = 0; r < n; ++r) {
    auto d = select_rank_device("cuda", layout(r, n));
    EXPECT_EQ(d, torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(r)));
    // What training resolves to afterwards carries the same index.
    EXPECT_EQ(resolve_device("cuda"), d);
  }
  select_rank_device("cuda", layout(0, n));
}

TEST(Device, RanksMayShareAGpuOverMpi) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible: GPU sharing not checked here";
  const auto n = static_cast<int>(torch::cuda::device_count());
  EXPECT_EQ(select_rank_device("cuda", layout(n, n + 1), "mpi"), torch::Device(torch::kCUDA, 0));
}

TEST(Device, MoreLocalRanksThanGpusIsAClearErrorWithNccl) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible: the layout check is not reached here";
  const auto n = static_cast<int>(torch::cuda::device_count());
  try {
    select_rank_device("cuda", layout(0, n + 1), "nccl");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(n + 1) + " ranks run on this node"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace hardy
