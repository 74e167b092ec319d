#include "dist/make_communicator.h"

#include "core/error.h"
#include "dist/mpi_communicator.h"
#ifdef HARDY_WITH_NCCL
#include "dist/nccl_communicator.h"
#endif

namespace hardy {

std::shared_ptr<Communicator> make_communicator(const std::string& backend, int device) {
  HARDY_THROW_IF_NOT_MSG(backend == "auto" || backend == "mpi" || backend == "nccl",
                         "unknown dist.backend '{}': use auto, mpi or nccl", backend);
  auto mpi = mpi_world();
  if (backend == "mpi") return mpi;
  const bool cuda = torch::cuda::is_available();
#ifdef HARDY_WITH_NCCL
  if (backend == "nccl" || cuda) {
    HARDY_THROW_IF_NOT_MSG(cuda,
                           "dist.backend = \"nccl\" needs a CUDA device and a CUDA build of LibTorch; "
                           "this process sees no usable CUDA device (use dist.backend = \"mpi\" or "
                           "\"auto\")");
    return nccl_world(mpi, device);
  }
#else
  HARDY_THROW_IF_NOT_MSG(backend != "nccl",
                         "dist.backend = \"nccl\", but this build has no NCCL (CMake did not find the "
                         "CUDA toolkit and NCCL): use \"mpi\" or \"auto\"");
  (void)cuda;
  (void)device;
#endif
  return mpi;
}

}  // namespace hardy
