#include "data/sharding.h"

#include "core/error.h"

#include <algorithm>
#include <unordered_map>

namespace hardy {

std::vector<SequenceRun> sequence_runs(const std::vector<std::int64_t>& sequence_ids) {
  std::vector<SequenceRun> runs;
  std::unordered_map<std::int64_t, std::int64_t> first_row;  // id -> row of its run
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(sequence_ids.size()); ++i) {
    std::int64_t id = sequence_ids[i];
    if (!runs.empty() && runs.back().id == id) {
      ++runs.back().count;
      continue;
    }
    auto [it, inserted] = first_row.emplace(id, i);
    HARDY_THROW_IF_NOT_MSG(inserted,
                           "sequence {} is not contiguous: it has rows starting at {} and at {} "
                           "(rows of one sequence must be adjacent; sort the corpus by sequence)",
                           id, it->second, i);
    runs.push_back(SequenceRun{id, i, 1, -1, -1});
  }
  return runs;
}

std::vector<SequenceRun> select_sequences(const std::vector<SequenceRun>& all,
                                          const SequencePredicate& keep) {
  if (!keep) return all;
  std::vector<SequenceRun> out;
  for (const auto& s : all)
    if (keep(s)) out.push_back(s);
  return out;
}

std::vector<int> shard_owners(const std::vector<SequenceRun>& selected, int world) {
  HARDY_THROW_IF_NOT_MSG(world >= 1, "number of ranks must be at least 1, got {}", world);
  std::vector<int> owners;
  owners.reserve(selected.size());
  std::int64_t total = 0;
  for (const auto& s : selected) total += s.count;
  std::int64_t offset = 0;
  for (const auto& s : selected) {
    // Midpoint rule in integer arithmetic: floor((2*o + n) * P / (2*R)).
    __int128 mid2 = static_cast<__int128>(2 * offset + s.count) * world;
    int rank = total == 0 ? 0 : static_cast<int>(mid2 / (2 * static_cast<__int128>(total)));
    owners.push_back(std::min(rank, world - 1));
    offset += s.count;
  }
  return owners;
}

std::vector<std::vector<RowRange>> plan_shards(const std::vector<SequenceRun>& selected,
                                               int world) {
  auto owners = shard_owners(selected, world);
  std::vector<std::vector<RowRange>> shards(static_cast<size_t>(world));
  for (size_t i = 0; i < selected.size(); ++i) {
    const auto& s = selected[i];
    if (s.count == 0) continue;
    auto& ranges = shards[static_cast<size_t>(owners[i])];
    if (!ranges.empty() && ranges.back().end == s.begin)
      ranges.back().end += s.count;
    else
      ranges.push_back(RowRange{s.begin, s.begin + s.count});
  }
  return shards;
}

std::vector<SequenceRun> shard_sequences(const std::vector<SequenceRun>& selected, int rank,
                                         int world) {
  HARDY_THROW_IF_NOT_MSG(rank >= 0 && rank < world, "rank {} is outside a world of {} ranks", rank,
                         world);
  auto owners = shard_owners(selected, world);
  std::vector<SequenceRun> mine;
  for (size_t i = 0; i < selected.size(); ++i)
    if (owners[i] == rank) mine.push_back(selected[i]);
  return mine;
}

std::int64_t total_rows(const std::vector<RowRange>& ranges) {
  std::int64_t n = 0;
  for (const auto& r : ranges) n += r.size();
  return n;
}

}  // namespace hardy
