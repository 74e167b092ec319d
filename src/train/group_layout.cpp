#include "train/group_layout.h"

#include "core/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace hardy {

namespace {

int parse_group_size(const std::string& setting, int world) {
  const bool digits = !setting.empty() && std::all_of(setting.begin(), setting.end(), [](unsigned char c) {
    return std::isdigit(c) != 0;
  });
  HARDY_THROW_IF_NOT_MSG(digits && setting.size() < 9,
                         "dist.group_size = '{}': use \"auto\" or a number of ranks per group (1 to the "
                         "world size, {})",
                         setting, world);
  const int size = std::stoi(setting);
  HARDY_THROW_IF_NOT_MSG(size >= 1 && size <= world,
                         "dist.group_size = {} but the job has {} rank(s): use 1 to {} (or \"auto\")", size,
                         world, world);
  return size;
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

}  // namespace

std::int64_t unit_bytes(std::int64_t rows, std::int64_t feature_floats_per_row, std::int64_t parameters,
                        std::int64_t activation_floats) {
  constexpr std::int64_t kFloat = 4;
  return kFloat * (3 * rows * feature_floats_per_row + 4 * parameters + activation_floats);
}

GroupLayout plan_groups(const std::string& setting, const GroupSizeInputs& in) {
  HARDY_THROW_IF_NOT_MSG(in.world >= 1, "plan_groups: a world of {} ranks", in.world);
  GroupLayout layout;
  if (setting != "auto") {
    layout.group_size = parse_group_size(setting, in.world);
    layout.why = fmt::format("dist.group_size = {}", layout.group_size);
  } else {
    int size = 1;
    std::string why;
    const auto budget = static_cast<std::int64_t>(kUnitMemoryShare * static_cast<double>(in.rank_bytes));
    if (in.rank_bytes > 0 && in.unit_bytes > budget) {
      // The features are sharded over the group; the model is not, so this is a floor.
      size = static_cast<int>(std::min<std::int64_t>(in.world, ceil_div(in.unit_bytes, std::max<std::int64_t>(budget, 1))));
      why = fmt::format("a unit needs about {:.1f} GiB and a rank may use {:.1f} GiB", in.unit_bytes / 1073741824.0,
                        budget / 1073741824.0);
    } else {
      const std::int64_t units = std::max<std::int64_t>(in.units, 1);
      const std::int64_t batch_cap = std::max<std::int64_t>(1, in.batch_size / kMinSequencesPerRank);
      while (size < in.world && ceil_div(in.world, size) > units && size * 2 <= batch_cap) size *= 2;
      size = std::min(size, in.world);
      why = size == 1 ? fmt::format("one rank per unit ({} units, {} ranks)", in.units, in.world)
                      : fmt::format("{} units for {} ranks, at least {} sequences per rank", in.units, in.world,
                                    kMinSequencesPerRank);
    }
    layout.group_size = size;
    layout.why = "auto: " + why;
  }
  for (int first = 0; first < in.world; first += layout.group_size)
    layout.group_ranks.push_back(std::min(layout.group_size, in.world - first));
  return layout;
}

}  // namespace hardy
