#include "core/modality.h"

#include "core/error.h"

#include <algorithm>
#include <cctype>

namespace hardy {

ModalitySet::ModalitySet(std::vector<std::string> names, std::string codes)
    : names_(std::move(names)), codes_(std::move(codes)) {
  HARDY_THROW_IF_NOT_MSG(names_.size() >= 2, "a corpus needs two or more modalities, got {}",
                         names_.size());
  if (codes_.empty())
    for (const auto& n : names_) codes_ += n.empty() ? '?' : n[0];
  HARDY_THROW_IF_NOT_MSG(codes_.size() == names_.size(),
                         "{} modality codes '{}' for {} modalities: give one letter each", codes_.size(),
                         codes_, names_.size());
  for (size_t m = 0; m < names_.size(); ++m) {
    HARDY_THROW_IF_NOT_MSG(!names_[m].empty(), "modality {} has an empty name", m);
    HARDY_THROW_IF_NOT_MSG(std::isalpha(static_cast<unsigned char>(codes_[m])),
                           "modality '{}' has code '{}': codes must be letters", names_[m], codes_[m]);
    for (size_t o = 0; o < m; ++o) {
      HARDY_THROW_IF_NOT_MSG(names_[o] != names_[m], "modality '{}' is listed twice", names_[m]);
      HARDY_THROW_IF_NOT_MSG(codes_[o] != codes_[m],
                             "modalities '{}' and '{}' share the code '{}': give modality codes "
                             "explicitly",
                             names_[o], names_[m], codes_[m]);
    }
  }
}

const ModalitySet& ModalitySet::standard() {
  static const ModalitySet set({"audio", "text", "visual"}, "atv");
  return set;
}

ModalitySet ModalitySet::parse(const std::string& comma_separated_names, const std::string& codes) {
  std::vector<std::string> names;
  std::string item;
  auto flush = [&] {
    const auto first = item.find_first_not_of(" \t");
    const auto last = item.find_last_not_of(" \t");
    names.push_back(first == std::string::npos ? "" : item.substr(first, last - first + 1));
    item.clear();
  };
  for (char c : comma_separated_names) {
    if (c == ',') flush();
    else item += c;
  }
  flush();
  return ModalitySet(std::move(names), codes);
}

std::string ModalitySet::joined_names() const {
  std::string out;
  for (const auto& n : names_) out += (out.empty() ? "" : ",") + n;
  return out;
}

std::vector<bool> ModalitySet::parse_condition(const std::string& condition) const {
  std::vector<bool> keep(names_.size(), false);
  size_t last = 0;
  bool ok = !condition.empty();
  for (size_t i = 0; ok && i < condition.size(); ++i) {
    auto at = codes_.find(condition[i]);
    ok = at != std::string::npos && !keep[at] && (i == 0 || at > last);
    if (ok) {
      keep[at] = true;
      last = at;
    }
  }
  HARDY_THROW_IF_NOT_MSG(ok,
                         "unknown missing-modality condition '{}': write the kept modalities' codes "
                         "in order ({}), e.g. {} or {}; this corpus has {}",
                         condition, codes_, missing_conditions().front(), complete_condition(),
                         describe());
  return keep;
}

std::string ModalitySet::condition_name(const std::vector<bool>& keep) const {
  HARDY_THROW_IF_NOT_MSG(keep.size() == names_.size(), "a condition over {} modalities for a set of {}",
                         keep.size(), names_.size());
  std::string name;
  for (size_t m = 0; m < keep.size(); ++m)
    if (keep[m]) name += codes_[m];
  HARDY_THROW_IF_NOT_MSG(!name.empty(), "a condition must keep at least one modality");
  return name;
}

std::vector<std::string> ModalitySet::missing_conditions() const {
  std::vector<std::string> out;
  const int n = size();
  for (int kept = 1; kept < n; ++kept) {
    // Subsets of `kept` modalities in lexicographic order of their positions.
    std::vector<bool> pick(static_cast<size_t>(n), false);
    std::fill(pick.begin(), pick.begin() + kept, true);
    do {
      out.push_back(condition_name(pick));
    } while (std::prev_permutation(pick.begin(), pick.end()));
  }
  return out;
}

std::string ModalitySet::describe() const {
  std::string out;
  for (size_t m = 0; m < names_.size(); ++m)
    out += (m ? ", " : "") + names_[m] + " (" + codes_[m] + ")";
  return out;
}

}  // namespace hardy
