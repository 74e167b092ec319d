#include "core/stop_request.h"

#include <csignal>
#include <mutex>

namespace hardy {

namespace {

volatile std::sig_atomic_t g_signal = 0;  // the first handled signal's number
std::mutex g_reason_mutex;
std::string g_reason;  // set by request_stop

extern "C" void on_stop_signal(int signal) {
  if (g_signal != 0 && signal == SIGTERM) {  // the second SIGTERM: stop now
    std::signal(SIGTERM, SIG_DFL);
    std::raise(SIGTERM);
    return;
  }
  if (g_signal == 0) g_signal = signal;
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
  if (g_signal != 0) return true;
  std::lock_guard<std::mutex> lock(g_reason_mutex);
  return !g_reason.empty();
}

std::string stop_reason() {
  switch (g_signal) {
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
