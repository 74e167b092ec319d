// The NCCL backend: collectives on CUDA tensors over one NCCL communicator per
// process, on its own CUDA stream. The ncclUniqueId travels over the MPI
// communicator (rank 0 creates it), which also carries the small CPU-side exchanges
// (counts, shape checks) and every collective on CPU tensors. Compiled only when
// CMake finds the CUDA toolkit and NCCL (HARDY_WITH_NCCL).
#include "core/error.h"
#include "dist/communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace hardy {

namespace {

void check_cuda(cudaError_t code, const char* what) {
  HARDY_THROW_IF_NOT_MSG(code == cudaSuccess, "CUDA {} failed: {}", what, cudaGetErrorString(code));
}

void check_nccl(ncclResult_t code, const char* what) {
  HARDY_THROW_IF_NOT_MSG(code == ncclSuccess, "NCCL {} failed: {}", what, ncclGetErrorString(code));
}

ncclDataType_t nccl_type(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kFloat16: return ncclFloat16;
    case torch::kInt64: return ncclInt64;
    case torch::kInt32: return ncclInt32;
    case torch::kInt8: return ncclInt8;
    case torch::kUInt8:
    case torch::kBool: return ncclUint8;
    default: HARDY_THROW_MSG("the NCCL backend cannot move tensors of type {}", c10::toString(type));
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Max: return ncclMax;
    case ReduceOp::Min: return ncclMin;
  }
  return ncclSum;
}

// Completion of the work enqueued on `stream` so far, observed through an event.
// wait() polls, so a peer that never joins is noticed after `timeout_s`: the NCCL
// communicator is aborted and the job ended through MPI.
class NcclWork : public Work {
 public:
  NcclWork(cudaStream_t stream, ncclComm_t comm, std::shared_ptr<Communicator> bootstrap,
           torch::Tensor keep_alive, const char* what, double timeout_s)
      : comm_(comm), bootstrap_(std::move(bootstrap)), tensor_(std::move(keep_alive)), what_(what),
        timeout_s_(timeout_s) {
    check_cuda(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "event create");
    check_cuda(cudaEventRecord(event_, stream), "event record");
  }
  ~NcclWork() override {
    if (!done_) wait();
    cudaEventDestroy(event_);
  }
  bool completed() override {
    if (!done_) done_ = cudaEventQuery(event_) == cudaSuccess;
    return done_;
  }
  void wait() override {
    const auto start = std::chrono::steady_clock::now();
    while (!completed()) {
      ncclResult_t async_error = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async_error);
      check_nccl(async_error, what_);
      double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > timeout_s_) {
        spdlog::error("rank {}: NCCL {} has waited {:.0f} s (dist.timeout_s) for the other ranks: one "
                      "of them has died or hung. Aborting the job; re-run to resume from the last "
                      "checkpoint.",
                      bootstrap_->rank(), what_, waited);
        ncclCommAbort(comm_);
        bootstrap_->abort(kExitPeerLost);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

 private:
  cudaEvent_t event_{};
  ncclComm_t comm_;
  std::shared_ptr<Communicator> bootstrap_;
  torch::Tensor tensor_;
  const char* what_;
  double timeout_s_;
  bool done_ = false;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(std::shared_ptr<Communicator> bootstrap, int device)
      : bootstrap_(std::move(bootstrap)), device_(device) {
    set_timeout_s(bootstrap_->timeout_s());
    check_cuda(cudaSetDevice(device_), "set device");
    // A blocking stream: it orders itself after the work LibTorch queued on the
    // legacy default stream, so a collective sees the finished values of its tensor.
    check_cuda(cudaStreamCreate(&stream_), "stream create");
    ncclUniqueId id;
    if (bootstrap_->rank() == 0) check_nccl(ncclGetUniqueId(&id), "unique id");
    auto bytes = torch::empty({static_cast<std::int64_t>(sizeof(id))}, torch::kUInt8);
    std::memcpy(bytes.data_ptr(), &id, sizeof(id));
    bootstrap_->broadcast(bytes, 0)->wait();
    std::memcpy(&id, bytes.data_ptr(), sizeof(id));
    check_nccl(ncclCommInitRank(&comm_, bootstrap_->size(), id, bootstrap_->rank()), "init");
  }
  ~NcclCommunicator() override {
    cudaStreamSynchronize(stream_);
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }

  int rank() const override { return bootstrap_->rank(); }
  int size() const override { return bootstrap_->size(); }
  std::string backend() const override { return "nccl"; }

  void barrier() override {
    check_cuda(cudaStreamSynchronize(stream_), "barrier");
    bootstrap_->barrier();
  }

  std::shared_ptr<Work> broadcast(torch::Tensor& tensor, int root) override {
    if (!tensor.is_cuda()) return bootstrap_->broadcast(tensor, root);
    check(tensor, "broadcast");
    check_nccl(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), static_cast<size_t>(tensor.numel()),
                             nccl_type(tensor.scalar_type()), root, comm_, stream_),
               "broadcast");
    return work(tensor, "broadcast");
  }

  std::shared_ptr<Work> allreduce(torch::Tensor& tensor, ReduceOp op) override {
    if (!tensor.is_cuda()) return bootstrap_->allreduce(tensor, op);
    check(tensor, "allreduce");
    check_nccl(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), static_cast<size_t>(tensor.numel()),
                             nccl_type(tensor.scalar_type()), nccl_op(op), comm_, stream_),
               "allreduce");
    return work(tensor, "allreduce");
  }

  torch::Tensor allgatherv(const torch::Tensor& input) override {
    if (!input.is_cuda()) return bootstrap_->allgatherv(input);
    auto tensor = input.contiguous();
    check(tensor, "allgatherv");
    auto counts = row_counts(tensor, "allgatherv");
    std::int64_t per_row = per_row_of(tensor);
    auto sizes = tensor.sizes().vec();
    sizes[0] = 0;
    for (auto c : counts) sizes[0] += c;
    auto out = torch::empty(sizes, tensor.options());
    const auto type = nccl_type(tensor.scalar_type());
    const auto element = tensor.element_size();
    check_nccl(ncclGroupStart(), "group start");
    std::int64_t at = 0;
    for (int r = 0; r < size(); ++r) {  // each rank broadcasts its block
      auto* dst = static_cast<char*>(out.data_ptr()) + at * per_row * element;
      const void* src = r == rank() ? tensor.data_ptr() : dst;
      check_nccl(ncclBroadcast(src, dst, static_cast<size_t>(counts[r] * per_row), type, r, comm_, stream_),
                 "allgatherv");
      at += counts[r];
    }
    check_nccl(ncclGroupEnd(), "group end");
    work(out, "allgatherv")->wait();
    return out;
  }

  torch::Tensor alltoallv(const torch::Tensor& input, const std::vector<std::int64_t>& send_rows,
                          std::vector<std::int64_t>* recv_rows) override {
    if (!input.is_cuda()) return bootstrap_->alltoallv(input, send_rows, recv_rows);
    auto tensor = input.contiguous();
    check(tensor, "alltoallv");
    HARDY_THROW_IF_NOT_MSG(static_cast<int>(send_rows.size()) == size(),
                           "alltoallv: {} send counts for {} ranks", send_rows.size(), size());
    row_counts(tensor, "alltoallv");  // same row shape everywhere
    // The counts go over MPI: row r of the result is what rank r sends here.
    auto sends = torch::tensor(send_rows, torch::kInt64).view({-1, 1});
    std::vector<std::int64_t> ones(static_cast<size_t>(size()), 1);
    auto received = bootstrap_->alltoallv(sends, ones, nullptr).contiguous();
    std::vector<std::int64_t> from(received.data_ptr<std::int64_t>(),
                                   received.data_ptr<std::int64_t>() + size());
    if (recv_rows) *recv_rows = from;
    const std::int64_t per_row = per_row_of(tensor);
    auto sizes = tensor.sizes().vec();
    sizes[0] = 0;
    for (auto c : from) sizes[0] += c;
    auto out = torch::empty(sizes, tensor.options());
    const auto type = nccl_type(tensor.scalar_type());
    const auto element = tensor.element_size();
    check_nccl(ncclGroupStart(), "group start");
    std::int64_t sent = 0, got = 0;
    for (int r = 0; r < size(); ++r) {
      auto* src = static_cast<const char*>(tensor.data_ptr()) + sent * per_row * element;
      auto* dst = static_cast<char*>(out.data_ptr()) + got * per_row * element;
      if (send_rows[r] > 0)
        check_nccl(ncclSend(src, static_cast<size_t>(send_rows[r] * per_row), type, r, comm_, stream_), "send");
      if (from[r] > 0)
        check_nccl(ncclRecv(dst, static_cast<size_t>(from[r] * per_row), type, r, comm_, stream_), "recv");
      sent += send_rows[r];
      got += from[r];
    }
    check_nccl(ncclGroupEnd(), "group end");
    work(out, "alltoallv")->wait();
    return out;
  }

  [[noreturn]] void abort(int exit_code) override {
    ncclCommAbort(comm_);
    bootstrap_->abort(exit_code);
    std::_Exit(exit_code);  // not reached: the MPI abort ends the process
  }

 private:
  void check(const torch::Tensor& t, const char* what) const {
    HARDY_THROW_IF_NOT_MSG(t.is_contiguous() && t.get_device() == device_,
                           "{}: the NCCL backend of rank {} needs a contiguous tensor on cuda:{}, got "
                           "one on {}",
                           what, rank(), device_, t.device().str());
  }
  static std::int64_t per_row_of(const torch::Tensor& t) {
    HARDY_THROW_IF_NOT_MSG(t.dim() >= 1, "needs a tensor with a row dimension");
    std::int64_t n = 1;
    for (int d = 1; d < t.dim(); ++d) n *= t.size(d);
    return n;
  }
  // Every rank's row count, after checking that all send rows of one shape and type.
  std::vector<std::int64_t> row_counts(const torch::Tensor& t, const char* what) {
    auto info = torch::tensor({t.size(0), per_row_of(t), static_cast<std::int64_t>(t.scalar_type())})
                    .view({1, 3});
    auto all = bootstrap_->allgatherv(info).contiguous();
    std::vector<std::int64_t> counts;
    for (int r = 0; r < size(); ++r) {
      HARDY_THROW_IF_NOT_MSG(all[r][1].item<std::int64_t>() == all[0][1].item<std::int64_t>() &&
                                 all[r][2].item<std::int64_t>() == all[0][2].item<std::int64_t>(),
                             "{}: rank {} sends rows of a different shape or type than rank 0", what, r);
      counts.push_back(all[r][0].item<std::int64_t>());
    }
    return counts;
  }
  std::shared_ptr<Work> work(const torch::Tensor& t, const char* what) {
    return std::make_shared<NcclWork>(stream_, comm_, bootstrap_, t, what, timeout_s());
  }

  std::shared_ptr<Communicator> bootstrap_;
  int device_;
  cudaStream_t stream_{};
  ncclComm_t comm_{};
};

}  // namespace

std::shared_ptr<Communicator> nccl_world(std::shared_ptr<Communicator> bootstrap, int device) {
  return std::make_shared<NcclCommunicator>(std::move(bootstrap), device);
}

}  // namespace hardy
