// Thread settings as LibTorch (and OpenBLAS, when loaded) report them: a count set
// through configure_threads is the count intra-op work runs on.
#include "app/threads.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

namespace hardy::app {
namespace {

// Distinct threads an intra-op parallel loop runs on.
std::size_t threads_used_by_parallel_for() {
  std::mutex mutex;
  std::set<std::thread::id> ids;
  at::parallel_for(0, 4096, 1, [&](std::int64_t begin, std::int64_t end) {
    volatile double sink = 0;
    for (auto i = begin; i < end; ++i)
      for (int k = 0; k < 2000; ++k) sink = sink + static_cast<double>(i * k);
    std::lock_guard<std::mutex> lock(mutex);
    ids.insert(std::this_thread::get_id());
  });
  return ids.size();
}

TEST(Threads, OneThreadMeansOneIntraOpThread) {
  EXPECT_EQ(configure_threads(1), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_EQ(threads_used_by_parallel_for(), 1u);
}

TEST(Threads, TwoThreadsAreTwoAtMost) {
  EXPECT_EQ(configure_threads(2), 2);
  EXPECT_EQ(at::get_num_threads(), 2);
  EXPECT_LE(threads_used_by_parallel_for(), 2u);
  EXPECT_GE(threads_used_by_parallel_for(), 1u);
}

TEST(Threads, ZeroSharesTheCoresAmongLocalRanks) {
  EXPECT_GE(default_threads(1), default_threads(2));
  EXPECT_GE(default_threads(1024), 1);
  EXPECT_EQ(configure_threads(0, 1), default_threads(1));
  EXPECT_EQ(at::get_num_threads(), default_threads(1));
}

TEST(Threads, OpenBlasIsLimitedToOneThreadUnlessTheUserChose) {
  using Get = int (*)();
  auto get = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (!get) GTEST_SKIP() << "OpenBLAS is not loaded in this process";
  if (std::getenv("OPENBLAS_NUM_THREADS")) GTEST_SKIP() << "OPENBLAS_NUM_THREADS is set: the user's choice stands";
  configure_threads(2);
  EXPECT_EQ(get(), 1);
  EXPECT_NE(thread_report().find("OpenBLAS threads 1"), std::string::npos) << thread_report();
}

TEST(Threads, ReportsNameTheLibTorchBuild) {
  const auto report = libtorch_cpu_report();
  EXPECT_NE(report.find("BLAS "), std::string::npos) << report;
  EXPECT_NE(report.find("CPU capability "), std::string::npos) << report;
}

}  // namespace
}  // namespace hardy::app
