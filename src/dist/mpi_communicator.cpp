#include "core/error.h"
#include "dist/communicator.h"

#include <mpi.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace hardy {

namespace {

MPI_Datatype mpi_type(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kInt8: return MPI_INT8_T;
    case torch::kUInt8: return MPI_UINT8_T;
    case torch::kBool: return MPI_C_BOOL;
    default: HARDY_THROW_MSG("the MPI backend cannot move tensors of type {}", c10::toString(type));
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return MPI_SUM;
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Min: return MPI_MIN;
  }
  return MPI_SUM;
}

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  HARDY_THROW_MSG("MPI {} failed: {}", what, std::string(text, static_cast<size_t>(length)));
}

void check_tensor(const torch::Tensor& t, const char* what) {
  HARDY_THROW_IF_NOT_MSG(t.defined() && t.is_contiguous() && t.device().is_cpu(),
                         "{}: the MPI backend needs a defined, contiguous CPU tensor", what);
}

// Completes `request`, polling so that a silent peer is noticed: after `timeout_s`
// seconds the stall is logged (naming the operation) and the whole job aborted.
// Polling backs off from spinning to 1 ms sleeps, which leaves the cores to the
// other ranks when the machine is oversubscribed.
void wait_or_abort(MPI_Request& request, const char* what, double timeout_s) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto pause = std::chrono::microseconds(0);
  for (int polls = 0;; ++polls) {
    int flag = 0;
    check_mpi(MPI_Test(&request, &flag, MPI_STATUS_IGNORE), what);
    if (flag) return;
    if (polls < 2000) {
      std::this_thread::yield();
      continue;
    }
    pause = std::min<std::chrono::microseconds>(std::chrono::microseconds(1000),
                                                pause + std::chrono::microseconds(10));
    std::this_thread::sleep_for(pause);
    double waited = std::chrono::duration<double>(clock::now() - start).count();
    if (waited > timeout_s) {
      int rank = -1;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      spdlog::error(
          "rank {}: MPI {} has waited {:.0f} s (dist.timeout_s) for the other ranks: one of them "
          "has died or hung (see the launcher's message for which). Aborting the job; re-run to "
          "resume from the last checkpoint.",
          rank, what, waited);
      spdlog::default_logger()->flush();
      MPI_Abort(MPI_COMM_WORLD, kExitPeerLost);
      std::_Exit(kExitPeerLost);
    }
  }
}

class MpiWork : public Work {
 public:
  MpiWork(MPI_Request request, torch::Tensor keep_alive, const char* what, double timeout_s)
      : request_(request), tensor_(std::move(keep_alive)), what_(what), timeout_s_(timeout_s) {}
  void wait() override {
    if (done_) return;
    wait_or_abort(request_, what_, timeout_s_);
    done_ = true;
  }
  bool completed() override {
    if (done_) return true;
    int flag = 0;
    check_mpi(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), "test");
    done_ = flag != 0;
    return done_;
  }
  ~MpiWork() override {
    // A dropped handle must not leave MPI writing into a freed tensor.
    if (!done_) wait_or_abort(request_, what_, timeout_s_);
  }

 private:
  MPI_Request request_;
  torch::Tensor tensor_;
  const char* what_;
  double timeout_s_;
  bool done_ = false;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
      });
    }
    // Errors come back as codes, which check_mpi turns into hardy::Error.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void barrier() override {
    MPI_Request request;
    check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &request), "barrier");
    wait_or_abort(request, "barrier", timeout_s());
  }

  std::shared_ptr<Work> broadcast(torch::Tensor& tensor, int root) override {
    check_tensor(tensor, "broadcast");
    HARDY_THROW_IF_NOT_MSG(root >= 0 && root < size_, "broadcast root {} outside {} ranks", root,
                           size_);
    MPI_Request request;
    check_mpi(MPI_Ibcast(tensor.data_ptr(), static_cast<int>(tensor.numel()),
                         mpi_type(tensor.scalar_type()), root, MPI_COMM_WORLD, &request),
              "broadcast");
    return std::make_shared<MpiWork>(request, tensor, "broadcast", timeout_s());
  }

  std::shared_ptr<Work> allreduce(torch::Tensor& tensor, ReduceOp op) override {
    check_tensor(tensor, "allreduce");
    MPI_Request request;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()),
                             mpi_type(tensor.scalar_type()), mpi_op(op), MPI_COMM_WORLD, &request),
              "allreduce");
    return std::make_shared<MpiWork>(request, tensor, "allreduce", timeout_s());
  }

  torch::Tensor allgatherv(const torch::Tensor& input) override {
    auto tensor = input.contiguous();
    check_tensor(tensor, "allgatherv");
    HARDY_THROW_IF_NOT_MSG(tensor.dim() >= 1, "allgatherv needs a tensor with a row dimension");
    std::int64_t per_row = 1;
    for (int d = 1; d < tensor.dim(); ++d) per_row *= tensor.size(d);
    // Agree on the trailing shape first: a mismatch would silently scramble rows.
    check_row_shapes(tensor, per_row, "allgatherv");
    std::vector<int> counts(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
    int my_count = static_cast<int>(tensor.size(0) * per_row);
    MPI_Request request;
    check_mpi(MPI_Iallgather(&my_count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD,
                             &request),
              "allgatherv (counts)");
    wait_or_abort(request, "allgatherv (counts)", timeout_s());
    std::int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[static_cast<size_t>(r)] = static_cast<int>(total);
      total += counts[static_cast<size_t>(r)];
    }
    HARDY_THROW_IF_NOT_MSG(total < (std::int64_t{1} << 31),
                           "allgatherv of {} elements exceeds MPI's int counts", total);
    auto sizes = tensor.sizes().vec();
    sizes[0] = per_row == 0 ? 0 : total / per_row;
    auto out = torch::empty(sizes, tensor.options());
    check_mpi(MPI_Iallgatherv(tensor.data_ptr(), my_count, mpi_type(tensor.scalar_type()),
                              out.data_ptr(), counts.data(), displs.data(),
                              mpi_type(tensor.scalar_type()), MPI_COMM_WORLD, &request),
              "allgatherv");
    wait_or_abort(request, "allgatherv", timeout_s());
    return out;
  }

  torch::Tensor alltoallv(const torch::Tensor& input, const std::vector<std::int64_t>& send_rows,
                          std::vector<std::int64_t>* recv_rows) override {
    auto tensor = input.contiguous();
    check_tensor(tensor, "alltoallv");
    HARDY_THROW_IF_NOT_MSG(tensor.dim() >= 1, "alltoallv needs a tensor with a row dimension");
    HARDY_THROW_IF_NOT_MSG(static_cast<int>(send_rows.size()) == size_,
                           "alltoallv: {} send counts for {} ranks", send_rows.size(), size_);
    std::int64_t sent = 0;
    for (auto n : send_rows) {
      HARDY_THROW_IF_NOT_MSG(n >= 0, "alltoallv: negative send count {}", n);
      sent += n;
    }
    HARDY_THROW_IF_NOT_MSG(sent == tensor.size(0), "alltoallv: send counts add up to {} rows, the tensor has {}",
                           sent, tensor.size(0));
    std::int64_t per_row = 1;
    for (int d = 1; d < tensor.dim(); ++d) per_row *= tensor.size(d);
    check_row_shapes(tensor, per_row, "alltoallv");

    const auto p = static_cast<size_t>(size_);
    std::vector<int> send_counts(p), send_displs(p), recv_counts(p), recv_displs(p);
    std::int64_t offset = 0;
    for (size_t r = 0; r < p; ++r) {
      send_counts[r] = checked_count(send_rows[r] * per_row, "alltoallv");
      send_displs[r] = checked_count(offset, "alltoallv");
      offset += send_rows[r] * per_row;
    }
    MPI_Request request;
    check_mpi(MPI_Ialltoall(send_counts.data(), 1, MPI_INT, recv_counts.data(), 1, MPI_INT,
                            MPI_COMM_WORLD, &request),
              "alltoallv (counts)");
    wait_or_abort(request, "alltoallv (counts)", timeout_s());
    std::int64_t total = 0;
    for (size_t r = 0; r < p; ++r) {
      recv_displs[r] = checked_count(total, "alltoallv");
      total += recv_counts[r];
    }
    checked_count(total, "alltoallv");
    if (recv_rows) {
      recv_rows->assign(p, 0);
      for (size_t r = 0; r < p; ++r) (*recv_rows)[r] = per_row == 0 ? 0 : recv_counts[r] / per_row;
    }
    auto sizes = tensor.sizes().vec();
    sizes[0] = per_row == 0 ? 0 : total / per_row;
    auto out = torch::empty(sizes, tensor.options());
    auto type = mpi_type(tensor.scalar_type());
    check_mpi(MPI_Ialltoallv(tensor.data_ptr(), send_counts.data(), send_displs.data(), type,
                             out.data_ptr(), recv_counts.data(), recv_displs.data(), type,
                             MPI_COMM_WORLD, &request),
              "alltoallv");
    wait_or_abort(request, "alltoallv", timeout_s());
    return out;
  }

  [[noreturn]] void abort(int exit_code) override {
    spdlog::default_logger()->flush();
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

 private:
  // Every rank must send rows of the same width and type: a mismatch would silently
  // scramble rows, so all ranks compare and all throw the same error.
  void check_row_shapes(const torch::Tensor& tensor, std::int64_t per_row, const char* what) {
    std::int64_t mine[2] = {per_row, static_cast<std::int64_t>(tensor.scalar_type())};
    std::vector<std::int64_t> all(2 * static_cast<size_t>(size_));
    MPI_Request request;
    check_mpi(MPI_Iallgather(mine, 2, MPI_INT64_T, all.data(), 2, MPI_INT64_T, MPI_COMM_WORLD,
                             &request),
              what);
    wait_or_abort(request, what, timeout_s());
    for (int r = 0; r < size_; ++r)
      HARDY_THROW_IF_NOT_MSG(all[2 * r] == all[0] && all[2 * r + 1] == all[1],
                             "{}: rank {} sends rows of {} elements (type {}), rank {} sends {} "
                             "elements (type {}); every rank must send the same row shape",
                             what, 0, all[0], c10::toString(static_cast<torch::ScalarType>(all[1])),
                             r, all[2 * r], c10::toString(static_cast<torch::ScalarType>(all[2 * r + 1])));
  }

  static int checked_count(std::int64_t n, const char* what) {
    HARDY_THROW_IF_NOT_MSG(n < (std::int64_t{1} << 31),
                           "{} of {} elements exceeds MPI's int counts; use smaller batches", what, n);
    return static_cast<int>(n);
  }

  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

std::shared_ptr<Communicator> mpi_world() {
  static std::mutex mutex;
  static std::shared_ptr<Communicator> world;
  std::lock_guard<std::mutex> lock(mutex);
  if (!world) world = std::make_shared<MpiCommunicator>();
  return world;
}

}  // namespace hardy
