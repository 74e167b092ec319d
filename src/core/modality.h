// The one modality vocabulary of hardy_dist: a corpus's modalities in order, each
// with the dataset name it is stored under and a one-letter code, and the
// missing-modality conditions written in those codes ("a", "at", ...). The set is
// data: format_version 1 corpora are audio/text/visual (standard()); every name,
// code and condition list in the code comes from here.
#pragma once

#include <string>
#include <vector>

namespace hardy {

// Per-modality values, indexed like the ModalitySet they belong to.
template <typename T>
using PerModality = std::vector<T>;

class ModalitySet {
 public:
  // `names`: dataset names in order (two or more, unique, non-empty). `codes`: one
  // letter each; empty = each name's first letter, which must then be unique.
  explicit ModalitySet(std::vector<std::string> names, std::string codes = "");

  // audio, text, visual with codes a, t, v: the layout of format_version 1.
  static const ModalitySet& standard();
  // From a corpus's `modalities` attribute ("audio,text": names, comma-separated,
  // spaces around them ignored) and optional `modality_codes` ("at").
  static ModalitySet parse(const std::string& comma_separated_names, const std::string& codes = "");

  bool operator==(const ModalitySet& other) const { return names_ == other.names_ && codes_ == other.codes_; }
  bool operator!=(const ModalitySet& other) const { return !(*this == other); }
  // "audio,text,visual": the `modalities` attribute parse() reads.
  std::string joined_names() const;

  int size() const { return static_cast<int>(names_.size()); }
  const std::string& name(int m) const { return names_.at(static_cast<size_t>(m)); }
  char code(int m) const { return codes_.at(static_cast<size_t>(m)); }
  const std::vector<std::string>& names() const { return names_; }
  const std::string& codes() const { return codes_; }

  // "at" -> {true, true, false}. A condition lists modalities by code, each at most
  // once, in the set's order, and keeps at least one. Anything else throws
  // hardy::Error naming this set's modalities.
  std::vector<bool> parse_condition(const std::string& condition) const;
  // The inverse: {true, false, true} -> "av". Throws when none is kept.
  std::string condition_name(const std::vector<bool>& keep) const;
  // Every modality kept: "atv".
  std::string complete_condition() const { return codes_; }
  // Every non-empty proper subset, singletons first, then pairs, ... each in the
  // set's order: a, t, v, at, av, tv.
  std::vector<std::string> missing_conditions() const;
  // The modalities as "audio (a), text (t), visual (v)", for messages.
  std::string describe() const;

 private:
  std::vector<std::string> names_;
  std::string codes_;
};

}  // namespace hardy
