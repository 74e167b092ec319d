// Every rank of a job runs the same job (issue 13; docs/operations.md). Ranks started
// with different settings (an MPMD launch, a config edited while the job queued, a
// stale binary on one node) would otherwise train different models without a word,
// or fail later with an opaque MPI error. Before any other collective, the ranks
// compare their job fingerprints and stop together, naming what differs.
#pragma once

#include "core/config.h"
#include "dist/communicator.h"

#include <string>
#include <utility>
#include <vector>

namespace hardy::app {

// (what, value) pairs, in a fixed order.
using JobFingerprint = std::vector<std::pair<std::string, std::string>>;

// Keys that may differ from rank to rank: they change how a rank runs, not what the
// job computes.
inline const std::vector<std::string>& per_rank_keys() {
  static const std::vector<std::string> keys{"training.threads", "output.log_level", "output.log_all_ranks"};
  return keys;
}

// This rank's fingerprint: the command; hardy_dist's version and build; every
// configuration key's effective value except per_rank_keys(); the world size this
// rank was launched into; and, when the configured corpus exists, its identity: size,
// a hash of its metadata (task, modalities, dims, classes, targets, partitions) and a
// hash of a sample of its rows (first, middle, last; every dataset). The
// modification time is left out on purpose: node-local copies of one corpus differ
// in it and nothing else.
JobFingerprint job_fingerprint(const Config& config, const std::string& command, int world);

// Collective over `world` (two allgathers of a few kB): returns when every rank holds
// the same fingerprint; otherwise throws hardy::Error, on every rank, naming every
// item that differs and which ranks hold which value, e.g.
//   "the ranks were started with different settings: training.lr is 0.001 on rank 0
//    and 0.002 on rank 1; ..."
void require_same_job(Communicator& world, const JobFingerprint& mine);

}  // namespace hardy::app
