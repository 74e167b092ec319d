// Which device a rank computes on. One GPU per local rank, chosen before any CUDA
// work (DDP's set_device(local_rank)), for every backend: NCCL, MPI with CUDA
// tensors, or no collectives at all.
#pragma once

#include "dist/launch.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace hardy {

// True when `setting` (training.device: "auto", "cpu", "cuda") means CUDA here.
bool wants_cuda(const std::string& setting);

// Makes CUDA device `launch.local_rank` % devices this process's current device when
// `setting` means CUDA, and returns the device training uses ("cuda:<i>" or "cpu").
// Throws, naming the numbers, when "cuda" is asked for without a usable device, or
// when a node runs more CUDA ranks than it has devices and `backend`
// (dist.backend) would use NCCL, which hangs on a duplicate GPU; with "mpi" ranks
// share GPUs (a warning says so).
torch::Device select_rank_device(const std::string& setting, const LaunchInfo& launch,
                                 const std::string& backend = "auto");

// The device `setting` resolves to in this process: the current CUDA device (set by
// select_rank_device) with its index, or the CPU.
torch::Device resolve_device(const std::string& setting);
// Bytes one rank may plan to use on `device` when `ranks_sharing` ranks share it:
// the GPU's total memory, or the host's MemAvailable (/proc/meminfo), divided among
// them. 0 when unknown.
std::int64_t memory_per_rank(const torch::Device& device, int ranks_sharing);

}  // namespace hardy
