#include "app/rank_agreement.h"

#include "core/error.h"
#include "core/fingerprint.h"
#include "data/corpus_reader.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace hardy::app {

namespace {

constexpr char kFieldEnd = '\x1f', kItemEnd = '\x1e';

std::string tensor_bytes(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), static_cast<std::size_t>(c.nbytes()));
}

// The corpus's identity, as fingerprint items; nothing when there is no corpus to read
// (the command fails on its own, with its own message, on every rank alike).
void add_corpus(JobFingerprint& out, const std::string& path) {
  std::error_code ec;
  if (path.empty() || !std::filesystem::is_regular_file(path, ec)) return;
  out.emplace_back("corpus size", std::to_string(std::filesystem::file_size(path, ec)));
  try {
    CorpusReader reader(path);
    const auto& m = reader.meta();
    out.emplace_back("corpus metadata",
                     fingerprint(fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", task_name(m.task), m.classes,
                                             m.modalities.joined_names(), fmt::join(m.dims, ","), m.rows,
                                             fmt::join(m.split_names, ","), fmt::join(m.targets, ","),
                                             m.target_min, m.target_max, m.format_version)));
    if (m.rows > 0) {
      const auto sample_rows = m.rows >= 3 ? std::vector<RowRange>{{0, 1}, {m.rows / 2, m.rows / 2 + 1}, {m.rows - 1, m.rows}}
                                           : std::vector<RowRange>{{0, m.rows}};
      auto rows = reader.read_rows(sample_rows);
      std::string sample;
      for (const auto& f : rows.features) sample += tensor_bytes(f);
      for (const auto* t : {&rows.label, &rows.sequence, &rows.position, &rows.split, &rows.fold, &rows.speaker})
        if (t->defined()) sample += tensor_bytes(*t);
      out.emplace_back("corpus sample rows", fingerprint(sample));
    }
  } catch (const Error& e) {
    // An unreadable corpus: its message, so that ranks reading different files disagree.
    out.emplace_back("corpus metadata", std::string("unreadable: ") + e.what());
  }
}

std::string serialize(const JobFingerprint& f) {
  std::string out;
  for (const auto& [what, value] : f) out += what + kFieldEnd + value + kItemEnd;
  return out;
}

JobFingerprint deserialize(const std::string& text) {
  JobFingerprint out;
  std::size_t at = 0;
  while (at < text.size()) {
    auto field = text.find(kFieldEnd, at), item = text.find(kItemEnd, at);
    if (field == std::string::npos || item == std::string::npos || field > item) break;
    out.emplace_back(text.substr(at, field - at), text.substr(field + 1, item - field - 1));
    at = item + 1;
  }
  return out;
}

// "0 and 2" / "1-3, 5": the ranks holding a value, compactly.
std::string rank_list(const std::vector<int>& ranks) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < ranks.size();) {
    std::size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    parts.push_back(j > i + 1 ? fmt::format("{}-{}", ranks[i], ranks[j])
                              : j == i + 1 ? fmt::format("{}, {}", ranks[i], ranks[j])
                                           : std::to_string(ranks[i]));
    i = j + 1;
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace

JobFingerprint job_fingerprint(const Config& config, const std::string& command, int world) {
  JobFingerprint out{{"command", command},
                     {"hardy_dist version", HARDY_VERSION},
                     {"hardy_dist build", __DATE__ " " __TIME__},
                     {"world size", std::to_string(world)}};
  const auto& skip = per_rank_keys();
  for (const auto& spec : config_schema())
    if (std::find(skip.begin(), skip.end(), spec.key) == skip.end())
      out.emplace_back(spec.key, config.value_text(spec.key));
  add_corpus(out, config.string("data.corpus"));
  return out;
}

void require_same_job(Communicator& world, const JobFingerprint& mine) {
  if (world.size() == 1) return;
  const auto text = serialize(mine);
  auto bytes = torch::from_blob(const_cast<char*>(text.data()), {static_cast<std::int64_t>(text.size())}, torch::kUInt8)
                   .clone();
  auto lengths = world.allgatherv(torch::tensor({static_cast<std::int64_t>(text.size())}, torch::kInt64));
  auto all = world.allgatherv(bytes);
  std::vector<JobFingerprint> ranks;
  std::int64_t at = 0;
  for (int r = 0; r < world.size(); ++r) {
    const auto n = lengths[r].item<std::int64_t>();
    auto part = all.slice(0, at, at + n).contiguous();
    ranks.push_back(deserialize(std::string(static_cast<const char*>(part.data_ptr()), static_cast<std::size_t>(n))));
    at += n;
  }
  // Every item of any rank (rank 0's order first); per item, the ranks per value.
  std::vector<std::string> order;
  for (const auto& fingerprint : ranks)
    for (const auto& item : fingerprint)
      if (std::find(order.begin(), order.end(), item.first) == order.end()) order.push_back(item.first);
  std::map<std::string, std::map<std::string, std::vector<int>>> values;
  for (int r = 0; r < world.size(); ++r) {
    std::map<std::string, std::string> own(ranks[static_cast<std::size_t>(r)].begin(), ranks[static_cast<std::size_t>(r)].end());
    for (const auto& what : order) values[what][own.count(what) ? own[what] : "(nothing)"].push_back(r);
  }
  std::vector<std::string> differences;
  for (const auto& what : order) {
    const auto& by_value = values[what];
    if (by_value.size() < 2) continue;
    std::vector<std::string> held;
    for (const auto& [value, holders] : by_value)
      held.push_back(fmt::format("{} on rank{} {}", value.size() > 80 ? value.substr(0, 77) + "..." : value,
                                 holders.size() > 1 ? "s" : "", rank_list(holders)));
    differences.push_back(fmt::format("{} is {}", what, fmt::join(held, " and ")));
  }
  HARDY_THROW_IF_NOT_MSG(differences.empty(),
                         "the {} ranks were not started with the same job, so they would compute different things: "
                         "{}. Start every rank with the same binary, config, --set options and corpus (only {} may "
                         "differ per rank)",
                         world.size(), fmt::join(differences, "; "), fmt::join(per_rank_keys(), ", "));
}

}  // namespace hardy::app
