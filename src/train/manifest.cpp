#include "train/manifest.h"

#include "core/error.h"
#include "train/file_io.h"
#include "train/run_file_error.h"

#include <nlohmann/json.hpp>

#include <filesystem>

namespace hardy {

namespace {

// Keeps the fields in the order written, so the file reads stage, key, complete, info.
using Json = nlohmann::ordered_json;

// Every error names the file and says how to recover: deleting it only costs a re-run
// of the stage.
[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw RunFileError(path, fmt::format("manifest '{}' is corrupt ({})", path, what));
}

const Json& field(const std::string& path, const Json& doc, const char* name,
                  Json::value_t type, const char* type_name) {
  auto it = doc.find(name);
  if (it == doc.end()) corrupt(path, fmt::format("missing field '{}'", name));
  if (it->type() != type)
    corrupt(path, fmt::format("field '{}' is {}, expected {}", name, it->type_name(), type_name));
  return *it;
}

}  // namespace

void save_manifest(const std::string& path, const Manifest& m) {
  Json doc;
  doc["stage"] = m.stage;
  doc["key"] = m.key;
  doc["complete"] = m.complete;
  doc["info"] = Json::object();
  for (const auto& [k, v] : m.info) doc["info"][k] = v;
  // Info values can carry file paths, which need not be UTF-8: replace bad bytes
  // (U+FFFD) rather than fail a finished stage over its bookkeeping.
  write_file_atomic(path, doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
}

std::optional<Manifest> load_manifest(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  const std::string text = read_file(path);
  Json doc;
  try {
    doc = Json::parse(text);
  } catch (const Json::exception& e) {
    corrupt(path, e.what());
  }
  if (!doc.is_object()) corrupt(path, fmt::format("top level is {}, expected an object",
                                                  doc.type_name()));
  for (const auto& [name, value] : doc.items())
    if (name != "stage" && name != "key" && name != "complete" && name != "info")
      corrupt(path, fmt::format("unknown field '{}'", name));

  Manifest m;
  m.stage = field(path, doc, "stage", Json::value_t::string, "a string").get<std::string>();
  m.key = field(path, doc, "key", Json::value_t::string, "a string").get<std::string>();
  m.complete = field(path, doc, "complete", Json::value_t::boolean, "true or false").get<bool>();
  if (doc.contains("info")) {
    for (const auto& [k, v] : field(path, doc, "info", Json::value_t::object, "an object").items()) {
      if (!v.is_string())
        corrupt(path, fmt::format("info '{}' is {}, expected a string", k, v.type_name()));
      m.info[k] = v.get<std::string>();
    }
  }
  return m;
}

bool manifest_matches(const std::string& path, const std::string& key) {
  auto m = load_manifest(path);
  return m && m->complete && m->key == key;
}

}  // namespace hardy
