#include "core/stop_request.h"

#include <atomic>
#include <csignal>
#include <mutex>

namespace hardy {

namespace {

// Lock-free atomics: safe in a signal handler and read by the monitor thread too.
std::atomic<int> g_signal{0};   // the first handled signal's number
std::atomic<int> g_signals{0};  // how many arrived
static_assert(std::atomic<int>::is_always_lock_free);
std::mutex g_reason_mutex;
std::string g_reason;  // set by request_stop

extern "C" void on_stop_signal(int signal) {
  // Two may arrive for one stop (SLURM signals the ranks and the batch script passes
  // its signal on); a third SIGTERM means "now".
  if (g_signals.fetch_add(1) + 1 >= 3 && signal == SIGTERM) {
    std::signal(SIGTERM, SIG_DFL);
    std::raise(SIGTERM);
    return;
  }
  int none = 0;
  g_signal.compare_exchange_strong(none, signal);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a signal must not fail a read or an MPI wait
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

bool stop_requested() {
  if (g_signal.load() != 0) return true;
  std::lock_guard<std::mutex> lock(g_reason_mutex);
  return !g_reason.empty();
}

std::string stop_reason() {
  switch (g_signal.load()) {
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    default: break;
  }
  std::lock_guard<std::mutex> lock(g_reason_mutex);
  return g_reason;
}

void request_stop(const std::string& reason) {
  std::lock_guard<std::mutex> lock(g_reason_mutex);
  g_reason = reason.empty() ? "request" : reason;
}

}  // namespace hardy
