// A request to stop the run soon and resumably: SIGTERM or SIGUSR1 (what SLURM sends
// before a time limit or a preemption, `sbatch --signal`), or a test. Training loops
// poll it once per step; the ranks agree on the step to stop at, write a step
// checkpoint and leave with kExitStopped (docs/operations.md, "Signals").
#pragma once

#include <stdexcept>
#include <string>

namespace hardy {

// Exit status of a run that stopped on request and can be resumed by re-running the
// same command (EX_TEMPFAIL of sysexits.h: "try again later").
constexpr int kExitStopped = 75;

// Installs the handlers for SIGTERM and SIGUSR1. A signal only sets the request (two
// may arrive for one stop: SLURM's to the ranks and the batch script's); a third
// SIGTERM ends the process at once (the default action), so `kill` still works.
void install_stop_handlers();

// True once a handled signal arrived (or request_stop was called).
bool stop_requested();
// The signal's name ("SIGTERM", "SIGUSR1"), "request" for request_stop, "" if none.
std::string stop_reason();
// Sets the request from code (another group stopped; tests).
void request_stop(const std::string& reason);

// Thrown on every rank of a group once the state is saved: not an error; the CLI
// turns it into kExitStopped.
class StopRequested : public std::runtime_error {
 public:
  explicit StopRequested(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace hardy
