#include "dist/device.h"

#include "core/error.h"
#include "core/log.h"


#ifdef HARDY_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#include <fstream>
#include <string>

namespace hardy {

bool wants_cuda(const std::string& setting) {
  HARDY_THROW_IF_NOT_MSG(setting == "auto" || setting == "cpu" || setting == "cuda",
                         "training.device must be auto, cpu or cuda, got '{}'", setting);
  const bool usable = torch::cuda::is_available();
  HARDY_THROW_IF_NOT_MSG(setting != "cuda" || usable,
                         "training.device = \"cuda\" but no CUDA device is usable by this process "
                         "(a CPU-only LibTorch build, no GPU visible, or CUDA_VISIBLE_DEVICES empty); "
                         "use \"auto\" or \"cpu\"");
  return setting == "cuda" || (setting == "auto" && usable);
}

torch::Device select_rank_device(const std::string& setting, const LaunchInfo& launch,
                                 const std::string& backend) {
  if (!wants_cuda(setting)) return torch::Device(torch::kCPU);
  const auto devices = static_cast<int>(torch::cuda::device_count());
  if (launch.local_world > devices) {
    HARDY_THROW_IF_NOT_MSG(backend == "mpi",
                           "{} ranks run on this node but it has {} visible CUDA device(s): NCCL "
                           "needs one rank per GPU (start {} ranks per node, e.g. launch/mpirun.sh "
                           "-n {}); or set dist.backend = \"mpi\" to share GPUs, or "
                           "training.device = \"cpu\"",
                           launch.local_world, devices, devices, devices);
    if (launch.local_rank == 0)
      log::warn("{} ranks share {} GPU(s) on this node (dist.backend = mpi): each GPU is "
                   "time-shared, expect no speed-up from the extra ranks",
                   launch.local_world, devices);
  }
  const int index = launch.local_rank % devices;
#ifdef HARDY_WITH_CUDA
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(index));
#endif
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

torch::Device resolve_device(const std::string& setting) {
  if (!wants_cuda(setting)) return torch::Device(torch::kCPU);
#ifdef HARDY_WITH_CUDA
  return torch::Device(torch::kCUDA, c10::cuda::current_device());
#else
  return torch::Device(torch::kCUDA, 0);
#endif
}

std::int64_t memory_per_rank(const torch::Device& device, int ranks_sharing) {
  const std::int64_t sharing = std::max(ranks_sharing, 1);
#ifdef HARDY_WITH_CUDA
  if (device.is_cuda()) {
    const auto index = device.has_index() ? device.index() : c10::cuda::current_device();
    return static_cast<std::int64_t>(at::cuda::getDeviceProperties(index)->totalGlobalMem) / sharing;
  }
#endif
  if (device.is_cuda()) return 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  std::int64_t kib = 0;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024 / sharing;
  return 0;
}

}  // namespace hardy

