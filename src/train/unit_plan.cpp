#include "train/unit_plan.h"

#include "core/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace hardy {

namespace {

// Relative work of the stages per utterance, in student view-epochs (the demo
// measurement of unit_plan.h).
constexpr double kTeacherEpochWork = 1.1;
constexpr double kHardnessConditionWork = 1.1;
constexpr double kFeatureEpochWork = 0.01;  // per modality
// seconds_per_work = kFixedSeconds + kSecondsPerMac × multiply-adds per utterance:
// fitted to 0.31 ms for the demo model and 2.5 ms for the paper's (bench/README.md,
// train_throughput, one thread).
constexpr double kFixedSeconds = 2.6e-4;
constexpr double kSecondsPerMac = 2.2e-10;

// Costs within this fraction of each other count as equal when a group chooses.
constexpr double kCostTie = 0.02;

}  // namespace

double prepare_work_per_row(const TrainSettings& s) {
  double work = static_cast<double>(s.teacher_epochs) * kTeacherEpochWork +
                static_cast<double>(s.conditions.size()) * kHardnessConditionWork;
  if (s.finetune_features)
    work += static_cast<double>(s.finetune_epochs) * kFeatureEpochWork * static_cast<double>(s.model.dims.size());
  return work;
}

double student_work_per_row(const TrainSettings& s) {
  const auto stage1 = std::min(s.student_stage1_epochs, s.student_epochs);
  const double views = s.retrieval ? static_cast<double>(s.curriculum.top_k + 1) : 1.0;
  return static_cast<double>(stage1) + static_cast<double>(s.student_epochs - stage1) * views;
}

double seconds_per_work(const TrainSettings& s) {
  const auto& m = s.model;
  double macs = 0;
  for (auto d : m.dims) macs += static_cast<double>(d * m.hidden);
  const double layer = 4.0 * static_cast<double>(m.hidden * m.hidden) + 2.0 * static_cast<double>(m.hidden * m.ff_hidden);
  macs += static_cast<double>(m.dims.size()) * static_cast<double>(m.depth) * layer;
  return kFixedSeconds + kSecondsPerMac * macs;
}

std::vector<WorkUnit> plan_units(const TrainSettings& s, const std::vector<std::int64_t>& train_rows,
                                 const CostCalibration& calibration) {
  const double seconds = seconds_per_work(s);
  const double prepare = prepare_work_per_row(s) * seconds * calibration.prepare;
  const double student = student_work_per_row(s) * seconds * calibration.student;
  std::vector<WorkUnit> units;
  for (std::size_t f = 0; f < train_rows.size(); ++f) {
    const auto rows = static_cast<double>(train_rows[f]);
    units.push_back({WorkUnit::Kind::Prepare, static_cast<int>(f), "", rows * prepare});
    for (const auto& c : s.conditions) units.push_back({WorkUnit::Kind::Student, static_cast<int>(f), c, rows * student});
  }
  return units;
}

std::string unit_name(const WorkUnit& unit, const std::vector<std::string>& fold_names) {
  const auto& fold = fold_names.at(static_cast<std::size_t>(unit.fold));
  return unit.kind == WorkUnit::Kind::Prepare ? fmt::format("{} | prepare", fold)
                                              : fmt::format("{} | student {}", fold, unit.condition);
}

Schedule schedule_units(const std::vector<WorkUnit>& units, const std::vector<bool>& pending,
                        const std::vector<int>& group_ranks) {
  HARDY_THROW_IF_NOT_MSG(pending.size() == units.size(), "schedule_units: {} pending flags for {} units",
                         pending.size(), units.size());
  HARDY_THROW_IF_NOT_MSG(!group_ranks.empty(), "schedule_units: no groups");
  for (int g : group_ranks) HARDY_THROW_IF_NOT_MSG(g > 0, "schedule_units: a group of {} ranks", g);
  const std::size_t n = units.size();
  const std::size_t groups = group_ranks.size();
  Schedule plan;
  plan.per_group.resize(groups);
  plan.group_of.assign(n, -1);
  plan.start.assign(n, 0.0);
  plan.finish.assign(n, 0.0);

  std::map<int, std::size_t> prepare_of;  // fold -> its pending prepare unit
  for (std::size_t i = 0; i < n; ++i)
    if (pending[i] && units[i].kind == WorkUnit::Kind::Prepare) prepare_of[units[i].fold] = i;
  // When unit i can start in the model: 0 when it has no pending prepare unit, that
  // unit's finish once it is scheduled, infinity before.
  const double never = std::numeric_limits<double>::infinity();
  auto ready_at = [&](std::size_t i) {
    if (units[i].kind == WorkUnit::Kind::Prepare) return 0.0;
    auto p = prepare_of.find(units[i].fold);
    if (p == prepare_of.end()) return 0.0;
    return plan.group_of[p->second] < 0 ? never : plan.finish[p->second];
  };

  std::vector<double> free_at(groups, 0.0);
  std::vector<int> last_fold(groups, -1);
  auto assign = [&](std::size_t i, std::size_t g) {
    const double start = std::max(free_at[g], ready_at(i));
    plan.group_of[i] = static_cast<int>(g);
    plan.start[i] = start;
    plan.finish[i] = start + units[i].cost / group_ranks[g];
    plan.per_group[g].push_back(i);
    free_at[g] = plan.finish[i];
    last_fold[g] = units[i].fold;
    plan.makespan = std::max(plan.makespan, plan.finish[i]);
  };

  if (groups == 1) {  // the plan's order: fold by fold, prepare then its students
    for (std::size_t i = 0; i < n; ++i)
      if (pending[i]) assign(i, 0);
    return plan;
  }

  // Whether candidate a should run before b on group g (both ready by the same rule).
  auto before = [&](std::size_t a, std::size_t b, std::size_t g) {
    const auto& ua = units[a];
    const auto& ub = units[b];
    if (ua.kind != ub.kind) return ua.kind == WorkUnit::Kind::Prepare;
    const double scale = std::max({ua.cost, ub.cost, 1e-12});
    if (std::abs(ua.cost - ub.cost) > kCostTie * scale) return ua.cost > ub.cost;
    const bool a_here = ua.fold == last_fold[g], b_here = ub.fold == last_fold[g];
    if (a_here != b_here) return a_here;
    return a < b;
  };

  std::size_t left = static_cast<std::size_t>(std::count(pending.begin(), pending.end(), true));
  for (; left > 0; --left) {
    const auto g = static_cast<std::size_t>(std::min_element(free_at.begin(), free_at.end()) - free_at.begin());
    // Prefer a unit that is ready when the group is free; else the one ready first.
    std::size_t best = n;
    double best_ready = never;
    for (std::size_t i = 0; i < n; ++i) {
      if (!pending[i] || plan.group_of[i] >= 0) continue;
      const double ready = std::max(ready_at(i), free_at[g]);
      if (ready == never) continue;
      if (best == n || ready < best_ready || (ready == best_ready && before(i, best, g))) {
        best = i;
        best_ready = ready;
      }
    }
    HARDY_THROW_IF_NOT_MSG(best < n, "schedule_units: no unit can run (a student without its prepare unit)");
    assign(best, g);
  }
  return plan;
}

}  // namespace hardy
