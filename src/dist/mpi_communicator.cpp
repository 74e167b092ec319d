#include "dist/mpi_communicator.h"

#include "core/error.h"
#include "core/log.h"
#include "dist/row_layout.h"

#include <mpi.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace hardy {

namespace {

// MPI has no bfloat16: two opaque bytes, summed by a user-defined operation that adds
// in float32 and rounds back (dist.grad_dtype = bfloat16). Created on first use,
// which is always inside an MPI call made after MPI_Init.
MPI_Datatype bfloat16_type() {
  static MPI_Datatype type = [] {
    MPI_Datatype t;
    MPI_Type_contiguous(2, MPI_BYTE, &t);
    MPI_Type_commit(&t);
    return t;
  }();
  return type;
}

void bfloat16_sum(void* in, void* inout, int* length, MPI_Datatype*) {
  const auto* a = static_cast<const c10::BFloat16*>(in);
  auto* b = static_cast<c10::BFloat16*>(inout);
  for (int i = 0; i < *length; ++i) b[i] = c10::BFloat16(static_cast<float>(a[i]) + static_cast<float>(b[i]));
}

MPI_Op bfloat16_sum_op() {
  static MPI_Op op = [] {
    MPI_Op o;
    MPI_Op_create(&bfloat16_sum, /*commute=*/1, &o);
    return o;
  }();
  return op;
}

MPI_Datatype mpi_type(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kInt8: return MPI_INT8_T;
    case torch::kUInt8: return MPI_UINT8_T;
    case torch::kBool: return MPI_C_BOOL;
    case torch::kBFloat16: return bfloat16_type();
    default: HARDY_THROW_MSG("the MPI backend cannot move tensors of type {}", c10::toString(type));
  }
}

// Every MPI call goes through here. MPI is initialised with MPI_THREAD_SERIALIZED
// (or better), which allows calls from any thread, one at a time: autograd's hooks
// launch gradient allreduces from LibTorch's backward threads while the main thread
// polls, and this lock makes them take turns.
std::mutex& mpi_mutex() {
  static std::mutex mutex;
  return mutex;
}

template <typename F>
int serialized(F&& call) {
  std::lock_guard<std::mutex> lock(mpi_mutex());
  return call();
}

MPI_Op mpi_op(ReduceOp op, torch::ScalarType type) {
  if (type == torch::kBFloat16) {
    HARDY_THROW_IF_NOT_MSG(op == ReduceOp::Sum, "the MPI backend reduces bfloat16 tensors by sum only");
    return bfloat16_sum_op();
  }
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

// A CUDA tensor's values in page-locked host memory: the MPI library is not assumed
// to be CUDA-aware, so device tensors travel through the host. The copy waits for
// the work queued on the current stream, so the values are final.
torch::Tensor staged_on_host(const torch::Tensor& t) {
  auto host = torch::empty(t.sizes(), t.options().device(torch::kCPU).pinned_memory(true));
  host.copy_(t);
  return host;
}

// An in-place collective on a staged CUDA tensor: waiting copies the result back.
class StagedWork : public Work {
 public:
  StagedWork(std::shared_ptr<Work> inner, torch::Tensor host, torch::Tensor device)
      : inner_(std::move(inner)), host_(std::move(host)), device_(std::move(device)) {}
  void wait() override {
    if (copied_) return;
    inner_->wait();
    device_.copy_(host_);
    copied_ = true;
  }
  // The host side has finished; wait() still has to copy the result back.
  bool completed() override { return copied_ || inner_->completed(); }

 private:
  std::shared_ptr<Work> inner_;
  torch::Tensor host_, device_;
  bool copied_ = false;
};

int world_rank() {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

[[noreturn]] void abort_world(int exit_code) {
  log::flush();
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

// Completes `request`; a silent peer ends the job after `timeout_s` (peer_timeout.h).
void wait_or_abort(MPI_Request& request, const char* what, double timeout_s) {
  poll_or_abort(
      [&] {
        int flag = 0;
        check_mpi(serialized([&] { return MPI_Test(&request, &flag, MPI_STATUS_IGNORE); }), what);
        return flag != 0;
      },
      std::string("MPI ") + what, world_rank(), timeout_s, [] { abort_world(kExitPeerLost); });
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
    check_mpi(serialized([&] { return MPI_Test(&request_, &flag, MPI_STATUS_IGNORE); }), "test");
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
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "init");
      HARDY_THROW_IF_NOT_MSG(provided >= MPI_THREAD_SERIALIZED,
                             "this MPI library provides thread level {} but hardy_dist needs "
                             "MPI_THREAD_SERIALIZED ({}): gradient hooks call MPI from LibTorch's "
                             "backward threads. Use an MPI built with thread support",
                             provided, static_cast<int>(MPI_THREAD_SERIALIZED));
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
      });
    }
    // Errors come back as codes, which check_mpi turns into hardy::Error.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  // A group made by split(): owns `comm`.
  explicit MpiCommunicator(MPI_Comm comm) : comm_(comm), owned_(true) {
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owned_ && !finalized) serialized([&] { return MPI_Comm_free(&comm_); });
  }

  std::shared_ptr<Communicator> split(int color, int key) override {
    HARDY_THROW_IF_NOT_MSG(color >= 0, "split: colour must be >= 0, got {}", color);
    // MPI_Comm_split blocks without a time-out: meet first in a collective that has
    // one, so a missing peer ends the job instead of hanging it.
    std::vector<std::int64_t> mine{color, key, rank_};
    exchange_records(mine, "split");
    MPI_Comm group;
    check_mpi(serialized([&] { return MPI_Comm_split(comm_, color, key, &group); }), "split");
    auto made = std::make_shared<MpiCommunicator>(group);
    made->set_timeout_s(timeout_s());
    return made;
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void barrier() override {
    MPI_Request request;
    check_mpi(serialized([&] { return MPI_Ibarrier(comm_, &request); }), "barrier");
    wait_or_abort(request, "barrier", timeout_s());
  }

  std::shared_ptr<Work> broadcast(torch::Tensor& tensor, int root) override {
    if (tensor.defined() && tensor.is_cuda()) {
      auto host = staged_on_host(tensor);
      return std::make_shared<StagedWork>(broadcast(host, root), host, tensor);
    }
    check_tensor(tensor, "broadcast");
    HARDY_THROW_IF_NOT_MSG(root >= 0 && root < size_, "broadcast root {} outside {} ranks", root,
                           size_);
    MPI_Request request;
    check_mpi(serialized([&] { return MPI_Ibcast(tensor.data_ptr(), static_cast<int>(tensor.numel()),
                         mpi_type(tensor.scalar_type()), root, comm_, &request); }),
              "broadcast");
    return std::make_shared<MpiWork>(request, tensor, "broadcast", timeout_s());
  }

  std::shared_ptr<Work> allreduce(torch::Tensor& tensor, ReduceOp op) override {
    if (tensor.defined() && tensor.is_cuda()) {
      auto host = staged_on_host(tensor);
      return std::make_shared<StagedWork>(allreduce(host, op), host, tensor);
    }
    check_tensor(tensor, "allreduce");
    MPI_Request request;
    check_mpi(serialized([&] { return MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()),
                             mpi_type(tensor.scalar_type()), mpi_op(op, tensor.scalar_type()), comm_, &request); }),
              "allreduce");
    return std::make_shared<MpiWork>(request, tensor, "allreduce", timeout_s());
  }

  torch::Tensor allgatherv(const torch::Tensor& input) override {
    if (input.defined() && input.is_cuda()) return allgatherv(input.cpu()).to(input.device());
    auto tensor = input.contiguous();
    check_tensor(tensor, "allgatherv");
    // One allgather carries every rank's row count, row shape and dtype.
    auto counts = agreed_row_counts(exchange_records(row_record(tensor, tensor.size(0), "allgatherv"),
                                                     "allgatherv (counts)"),
                                    "allgatherv");
    const std::int64_t per_row = elements_per_row(tensor, "allgatherv");
    std::vector<int> elements(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
    std::int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[static_cast<size_t>(r)] = checked_int_count(total * per_row, "allgatherv");
      elements[static_cast<size_t>(r)] = checked_int_count(counts[static_cast<size_t>(r)] * per_row, "allgatherv");
      total += counts[static_cast<size_t>(r)];
    }
    checked_int_count(total * per_row, "allgatherv");
    auto out = empty_rows_like(tensor, total);
    MPI_Request request;
    check_mpi(serialized([&] { return MPI_Iallgatherv(tensor.data_ptr(), elements[static_cast<size_t>(rank_)],
                              mpi_type(tensor.scalar_type()), out.data_ptr(), elements.data(),
                              displs.data(), mpi_type(tensor.scalar_type()), comm_, &request); }),
              "allgatherv");
    wait_or_abort(request, "allgatherv", timeout_s());
    return out;
  }

  torch::Tensor alltoallv(const torch::Tensor& input, const std::vector<std::int64_t>& send_rows,
                          std::vector<std::int64_t>* recv_rows) override {
    if (input.defined() && input.is_cuda())
      return alltoallv(input.cpu(), send_rows, recv_rows).to(input.device());
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
    const std::int64_t per_row = elements_per_row(tensor, "alltoallv");
    // One alltoall carries, per destination, the row count with this rank's row
    // shape and dtype, so the shape check needs no collective of its own.
    const auto p = static_cast<size_t>(size_);
    std::vector<std::int64_t> records;
    for (size_t r = 0; r < p; ++r) {
      auto record = row_record(tensor, send_rows[r], "alltoallv");
      records.insert(records.end(), record.begin(), record.end());
    }
    std::vector<std::int64_t> received(3 * p);
    MPI_Request request;
    check_mpi(serialized([&] { return MPI_Ialltoall(records.data(), 3, MPI_INT64_T, received.data(), 3, MPI_INT64_T,
                            comm_, &request); }),
              "alltoallv (counts)");
    wait_or_abort(request, "alltoallv (counts)", timeout_s());
    // Every sender's row shape must equal this rank's own.
    std::vector<std::int64_t> from(p);
    for (size_t r = 0; r < p; ++r) {
      HARDY_THROW_IF_NOT_MSG(
          received[3 * r + 1] == records[1] && received[3 * r + 2] == records[2],
          "alltoallv: rank {} sends rows of {} elements (type {}), rank {} sends {} elements "
          "(type {}); every rank must send the same row shape",
          rank_, records[1], c10::toString(static_cast<torch::ScalarType>(records[2])), r,
          received[3 * r + 1], c10::toString(static_cast<torch::ScalarType>(received[3 * r + 2])));
      from[r] = received[3 * r];
    }
    std::vector<int> send_counts(p), send_displs(p), recv_counts(p), recv_displs(p);
    std::int64_t offset = 0, total = 0;
    for (size_t r = 0; r < p; ++r) {
      send_counts[r] = checked_int_count(send_rows[r] * per_row, "alltoallv");
      send_displs[r] = checked_int_count(offset, "alltoallv");
      offset += send_rows[r] * per_row;
      recv_counts[r] = checked_int_count(from[r] * per_row, "alltoallv");
      recv_displs[r] = checked_int_count(total * per_row, "alltoallv");
      total += from[r];
    }
    checked_int_count(total * per_row, "alltoallv");
    if (recv_rows) *recv_rows = from;
    auto out = empty_rows_like(tensor, total);
    auto type = mpi_type(tensor.scalar_type());
    check_mpi(serialized([&] { return MPI_Ialltoallv(tensor.data_ptr(), send_counts.data(), send_displs.data(), type,
                             out.data_ptr(), recv_counts.data(), recv_displs.data(), type,
                             comm_, &request); }),
              "alltoallv");
    wait_or_abort(request, "alltoallv", timeout_s());
    return out;
  }

  [[noreturn]] void abort(int exit_code) override { abort_world(exit_code); }

 private:
  // Every rank's three-value row record, in rank order.
  std::vector<std::int64_t> exchange_records(const std::vector<std::int64_t>& mine, const char* what) {
    std::vector<std::int64_t> all(3 * static_cast<size_t>(size_));
    MPI_Request request;
    check_mpi(serialized([&] { return MPI_Iallgather(mine.data(), 3, MPI_INT64_T, all.data(), 3, MPI_INT64_T, comm_,
                             &request); }),
              what);
    wait_or_abort(request, what, timeout_s());
    return all;
  }

  MPI_Comm comm_ = MPI_COMM_WORLD;
  bool owned_ = false;
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
