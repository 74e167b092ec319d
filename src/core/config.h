// The configuration of hardy_dist: every setting lives in TOML.
//
// Each key is declared once, in the schema table of config.cpp (type, default, range or
// choices, one-line doc). Validation, `--set` parsing, the defaults, the effective-config
// dump (Config::to_toml) and the reference in docs/config.md all derive from that table.
//
// Precedence: defaults < config file < `--set section.key=value` (in command-line order).
// Unknown keys, wrong types and out-of-range values are errors (hardy::Error) that name
// the key and where it was set ("configs/x.toml:7", "--set model.hidden=abc").
//
// This header deliberately does not include TOML++: only config.cpp parses TOML.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hardy {

enum class ValueType { Integer, Real, Boolean, String, IntegerList, RealList, StringList };

// One alternative per ValueType, in the same order.
using Value = std::variant<std::int64_t, double, bool, std::string, std::vector<std::int64_t>,
                           std::vector<double>, std::vector<std::string>>;

struct KeySpec {
  std::string key;  // "section.name"
  ValueType type;
  Value default_value;
  std::string doc;                   // one line
  std::optional<double> min, max;    // inclusive bounds for numbers (and every element of number lists)
  std::vector<std::string> choices;  // allowed strings (String and each StringList element); empty = any
  bool takes_integer = false;        // a String key that also takes a non-negative integer (as its text)
};

// All keys, grouped by section, in documentation order.
const std::vector<KeySpec>& config_schema();

// The spec of `key` ("section.name"), or nullptr if there is no such key.
const KeySpec* find_key_spec(const std::string& key);

class Config {
 public:
  // Every key at its default.
  static Config defaults();

  // Parses a TOML file (path must exist) on top of the defaults, then applies the
  // overrides "section.key=value" in order, then runs the cross-key checks.
  static Config load(const std::string& path, const std::vector<std::string>& overrides = {});

  // Same, from TOML text (source_name stands for the file in messages and sources).
  static Config parse(const std::string& toml_text, const std::string& source_name,
                      const std::vector<std::string>& overrides = {});

  // Applies one "section.key=value". The value is read according to the key's type:
  // lists as TOML arrays `[1,2]` or comma-separated `1,2`; strings with or without
  // quotes; booleans true/false. Checks type, range and choices of this key only; the
  // cross-key checks run at the end of load()/parse(), once every override is applied
  // (so the order of --set options does not matter for them).
  void set(const std::string& assignment);

  // Typed accessors. An unknown key or a type mismatch is a programming error and
  // throws hardy::Error naming the key.
  std::int64_t integer(const std::string& key) const;
  double real(const std::string& key) const;  // also accepts Integer keys
  bool boolean(const std::string& key) const;
  const std::string& string(const std::string& key) const;
  std::vector<std::int64_t> integers(const std::string& key) const;
  std::vector<double> reals(const std::string& key) const;  // also accepts IntegerList keys
  std::vector<std::string> strings(const std::string& key) const;
  const Value& value(const std::string& key) const;

  // The effective value of `key` as TOML text ("0.001", "[\"a\", \"t\"]"), as
  // to_toml() writes it.
  std::string value_text(const std::string& key) const;

  // Where the value of `key` came from: "default", "FILE:LINE", or "--set".
  std::string source(const std::string& key) const;

  // The config file (or parse()'s source_name); "" when defaults only.
  const std::string& file() const;

  // The effective configuration as TOML, grouped by section, each key preceded by a
  // `# doc` comment (and followed by its source when not a default). parse() reads it
  // back to the same values.
  std::string to_toml() const;

 private:
  struct Entry {
    Value value;
    std::string source;
  };

  Config() = default;
  std::size_t index_of(const std::string& key, const char* accessor) const;
  const Entry& typed_entry(const std::string& key, const char* accessor,
                           std::initializer_list<ValueType> accepted) const;
  void check_cross_keys() const;

  std::vector<Entry> entries_;  // parallel to config_schema()
  std::string file_;
};

// The full reference as Markdown: one table per section with key, type, default,
// range/choices and doc. docs/config.md contains it verbatim (a test checks that).
std::string config_reference_markdown();

}  // namespace hardy
