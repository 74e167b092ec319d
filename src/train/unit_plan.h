// The paper's protocol as units of independent work, and their schedule over groups
// of ranks (docs/data-parallel.md, "Groups and units").
//
// Per fold, one *prepare* unit runs the stages every condition shares (feature nets,
// teacher, hardness, curricula); then one *student* unit per condition, which needs
// its fold's prepare unit. Units never communicate with each other: each stage seeds
// its own generator streams (train/random_streams.h), so a unit's result does not
// depend on which group ran it, in which order, or after what. This header is pure
// planning (no ranks, no files), so it is tested without mpirun.
#pragma once

#include "train/settings.h"

#include <cstdint>
#include <string>
#include <vector>

namespace hardy {

struct WorkUnit {
  enum class Kind { Prepare, Student };
  Kind kind = Kind::Prepare;
  int fold = 0;           // index into the run's fold plans
  std::string condition;  // students only
  double cost = 0;        // modelled seconds on one rank (unit_cost)
};

// Per-row work of one fold's units in "student view-epochs" (one training epoch of a
// student over one utterance and one view), from the settings alone. Measured on the
// demo model (bench/README.md, "Units"): a teacher epoch costs 1.1 of them, scoring
// the hardness of one condition 1.1, a feature-net epoch 0.01.
double prepare_work_per_row(const TrainSettings& s);
double student_work_per_row(const TrainSettings& s);
// Seconds of one student view-epoch over one utterance on one rank for the model of
// `s`: 0.31 ms measured for the demo model (hidden 64, depth 2; dims 64/96/48), scaled
// by the multiply-adds of an encoder layer per utterance.
double seconds_per_work(const TrainSettings& s);

// Calibration from finished units: measured seconds over modelled seconds, per kind
// (1 when nothing was measured). Applied to every unit of that kind.
struct CostCalibration {
  double prepare = 1, student = 1;
};

// Every unit of the run in the pipeline's order (fold by fold: prepare, then each
// condition), costed for `train_rows[f]` training utterances of fold f.
std::vector<WorkUnit> plan_units(const TrainSettings& s, const std::vector<std::int64_t>& train_rows,
                                 const CostCalibration& calibration = {});

// "fold 2 | prepare" or "fold 2 | student at", from the fold plans' names.
std::string unit_name(const WorkUnit& unit, const std::vector<std::string>& fold_names);

struct Schedule {
  std::vector<std::vector<std::size_t>> per_group;  // indices into units, in run order
  std::vector<int> group_of;                        // per unit; -1 when not scheduled
  std::vector<double> start, finish;                // modelled, per unit
  double makespan = 0;
};

// List scheduling over groups of `group_ranks[g]` ranks: whenever a group is free it
// takes, among the units whose prepare unit has finished (in the model), the longest
// (a prepare unit first, as students wait for it); ties go to the fold the group
// prepared last (its artifacts are loaded already), then to the plan order. A group
// of g ranks runs a unit in cost / g (ideal data parallelism, an upper bound; see
// docs/data-parallel.md). `pending[i]` false marks unit i as finished earlier: it is
// not scheduled and its students need not wait for it. One group runs the plan in
// order (today's fold-by-fold sequence). Deterministic: every rank computes the same.
Schedule schedule_units(const std::vector<WorkUnit>& units, const std::vector<bool>& pending,
                        const std::vector<int>& group_ranks);

}  // namespace hardy
