#include "dist/peer_timeout.h"

#include "core/log.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace hardy {

void poll_or_abort(const std::function<bool()>& poll, const std::string& what, int rank,
                   double timeout_s, const std::function<void()>& abort_job) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto pause = std::chrono::microseconds(0);
  for (int polls = 0;; ++polls) {
    if (poll()) return;
    if (polls < 2000) {
      std::this_thread::yield();
      continue;
    }
    pause = std::min<std::chrono::microseconds>(std::chrono::microseconds(1000),
                                                pause + std::chrono::microseconds(10));
    std::this_thread::sleep_for(pause);
    const double waited = std::chrono::duration<double>(clock::now() - start).count();
    if (waited > timeout_s) {
      log::error(
          "rank {}: {} has waited {:.0f} s (dist.timeout_s) for the other ranks: one of them "
          "has died or hung (see the launcher's message for which). Aborting the job; re-run to "
          "resume from the last checkpoint.",
          rank, what, waited);
      log::flush();
      abort_job();
      std::_Exit(kExitPeerLost);  // abort_job must not return; never hang if it does
    }
  }
}

}  // namespace hardy
