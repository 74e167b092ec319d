// How the world is cut into groups of ranks for the units of train/unit_plan.h
// (dist.group_size). Each group runs one unit at a time, data-parallel inside the
// group; groups never talk to each other while units run. Pure arithmetic, so
// tested without mpirun.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hardy {

// What the `auto` rule looks at.
struct GroupSizeInputs {
  int world = 1;
  std::int64_t units = 1;        // units of the widest phase to run (the students)
  std::int64_t batch_size = 16;  // training.batch_size, sequences per global batch
  std::int64_t unit_bytes = 0;   // modelled memory of one unit on one rank (unit_bytes)
  std::int64_t rank_bytes = 0;   // memory one rank may use (memory_per_rank); 0 = unknown
};

// Sequences per rank and step below which splitting a batch further costs more in
// gradient allreduce than it gains (the demo's students: 9.8 s of 27 s in allreduce
// at 4 per rank).
constexpr std::int64_t kMinSequencesPerRank = 4;
// The share of a rank's memory a unit may plan on (the rest: LibTorch's caches,
// fragmentation, the other buffers).
constexpr double kUnitMemoryShare = 0.5;

struct GroupLayout {
  int group_size = 1;           // ranks per group (the last group may have fewer)
  std::vector<int> group_ranks;  // ranks in each group
  std::string why;              // how the size was chosen, for the log
  int groups() const { return static_cast<int>(group_ranks.size()); }
  // The group of world rank `rank`: ranks [g·group_size, (g+1)·group_size).
  int group_of(int rank) const { return rank / group_size; }
};

// `setting` is dist.group_size: "auto" or a positive integer (at most the world; a
// larger one is an error naming the world size). `auto`:
//   1. memory first: the smallest size at which a unit's share per rank fits
//      kUnitMemoryShare of a rank's memory;
//   2. otherwise one rank per group, grown only while there would be more groups
//      than units to run (idle groups), and only while every rank keeps at least
//      kMinSequencesPerRank sequences of a global batch.
GroupLayout plan_groups(const std::string& setting, const GroupSizeInputs& in);

// Modelled bytes one rank holds to run a unit alone: the fold's features (read,
// refined and indexed: three copies of rows × Σdims floats), the model with its
// gradients and Adam state (4 × parameters), and one batch's activations.
std::int64_t unit_bytes(std::int64_t rows, std::int64_t feature_floats_per_row, std::int64_t parameters,
                        std::int64_t activation_floats);

}  // namespace hardy
