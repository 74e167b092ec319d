// How every backend waits for its peers: poll, back off, and after dist.timeout_s
// end the whole job with kExitPeerLost instead of hanging. One helper, so MPI and
// NCCL behave alike (same back-off, same message shape).
#pragma once

#include <functional>
#include <string>

namespace hardy {

// Exit status of a job aborted because a peer rank stopped answering.
constexpr int kExitPeerLost = 3;

// Calls `poll` until it returns true. Polling spins briefly, then backs off to 1 ms
// sleeps, which leaves the cores to the other ranks on an oversubscribed machine.
// After `timeout_s` seconds, logs that `what` on `rank` has waited that long for
// the other ranks and calls `abort_job` (which must not return).
void poll_or_abort(const std::function<bool()>& poll, const std::string& what, int rank,
                   double timeout_s, const std::function<void()>& abort_job);

}  // namespace hardy
