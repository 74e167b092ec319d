#include "train/run_dir.h"

#include "core/error.h"
#include "core/quoted.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <utility>
#include <vector>

namespace hardy {

namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

// Closes the descriptor and removes the temp file unless the write went through.
class TempFile {
 public:
  TempFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  bool close() {
    int fd = std::exchange(fd_, -1);
    return ::close(fd) == 0;
  }
  void commit() { committed_ = true; }

 private:
  std::string path_;
  int fd_;
  bool committed_ = false;
};

// Best effort: some filesystems refuse fsync on a directory, and the data itself
// is already durable by then; only the rename could be lost on power failure.
void fsync_directory(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const fs::path target(path);
  const fs::path dir = target.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    HARDY_THROW_IF_NOT_MSG(!ec, "cannot create directory '{}' for '{}': {}", dir.string(), path,
                           ec.message());
  }
  // Unique per process and call, so concurrent writers never share a temp file.
  static std::atomic<unsigned> counter{0};
  const std::string tmp =
      (dir / fmt::format(".{}.tmp.{}.{}", target.filename().string(), ::getpid(), counter++))
          .string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  HARDY_THROW_IF_NOT_MSG(fd >= 0, "cannot create '{}': {} (is the directory writable?)", tmp,
                         errno_text());
  TempFile file(tmp, fd);
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(file.fd(), p, left);
    if (n < 0 && errno == EINTR) continue;
    HARDY_THROW_IF_NOT_MSG(n > 0, "cannot write '{}': {} (is the disk full?)", tmp,
                           errno_text());
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  HARDY_THROW_IF_NOT_MSG(::fsync(file.fd()) == 0, "cannot flush '{}' to disk: {}", tmp,
                         errno_text());
  HARDY_THROW_IF_NOT_MSG(file.close(), "cannot close '{}': {}", tmp, errno_text());
  HARDY_THROW_IF_NOT_MSG(::rename(tmp.c_str(), path.c_str()) == 0,
                         "cannot move '{}' to '{}': {}", tmp, path, errno_text());
  file.commit();
  fsync_directory(dir);
}

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  HARDY_THROW_IF_NOT_MSG(fd >= 0, "cannot open '{}': {}", path, errno_text());
  std::string bytes;
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string why = errno_text();
      ::close(fd);
      HARDY_THROW_MSG("cannot read '{}': {}", path, why);
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return bytes;
}

std::string fingerprint(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64-bit offset basis
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;  // FNV-1a 64-bit prime
  }
  return fmt::format("{:016x}", h);
}

// ---- manifests ----

namespace {

// Reads the manifest subset of JSON: objects, strings, true/false. Every error
// names the file and suggests deleting it (the stage then simply runs again).
class ManifestReader {
 public:
  ManifestReader(const std::string& path, const std::string& text) : path_(path), s_(text) {}

  [[noreturn]] void fail(const std::string& what) const {
    HARDY_THROW_MSG("manifest '{}' is corrupt ({} at byte {}): delete it and the stage will "
                    "run again",
                    path_, what, pos_);
  }

  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r' || s_[pos_] == '\n'))
      ++pos_;
  }
  bool at_end() {
    skip_ws();
    return pos_ == s_.size();
  }
  bool consume(char c) {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!consume(c)) fail(fmt::format("expected '{}'", c));
  }

  bool boolean() {
    skip_ws();
    for (auto [word, value] : {std::pair{"true", true}, std::pair{"false", false}}) {
      if (s_.compare(pos_, std::strlen(word), word) == 0) {
        pos_ += std::strlen(word);
        return value;
      }
    }
    fail("expected true or false");
  }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("raw control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) fail("unterminated escape");
      switch (char e = s_[pos_++]) {
        case '"': case '\\': case '/': out += e; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': append_utf8(out, code_point()); break;
        default: fail(fmt::format("unknown escape '\\{}'", e));
      }
    }
  }

  // Flat object of string values.
  std::map<std::string, std::string> string_map() {
    std::map<std::string, std::string> out;
    expect('{');
    if (consume('}')) return out;
    do {
      std::string key = string();
      expect(':');
      out[key] = string();
    } while (consume(','));
    expect('}');
    return out;
  }

 private:
  unsigned hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else fail("bad hex digit in \\u escape");
    }
    return v;
  }

  // After "\u": one code point, combining a UTF-16 surrogate pair.
  unsigned code_point() {
    unsigned cp = hex4();
    if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (s_.compare(pos_, 2, "\\u") != 0) fail("lone high surrogate");
      pos_ += 2;
      unsigned low = hex4();
      if (low < 0xDC00 || low > 0xDFFF) fail("bad low surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    return cp;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  const std::string& path_;
  const std::string& s_;
  std::size_t pos_ = 0;
};

}  // namespace

void save_manifest(const std::string& path, const Manifest& m) {
  std::string out = "{\n";
  out += fmt::format("  \"stage\": {},\n", quoted_string(m.stage));
  out += fmt::format("  \"key\": {},\n", quoted_string(m.key));
  out += fmt::format("  \"complete\": {},\n", m.complete ? "true" : "false");
  out += "  \"info\": {";
  const char* sep = "\n";
  for (const auto& [k, v] : m.info) {
    out += fmt::format("{}    {}: {}", sep, quoted_string(k), quoted_string(v));
    sep = ",\n";
  }
  out += m.info.empty() ? "}\n}\n" : "\n  }\n}\n";
  write_file_atomic(path, out);
}

std::optional<Manifest> load_manifest(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  const std::string text = read_file(path);
  ManifestReader r(path, text);
  Manifest m;
  bool has_stage = false, has_key = false, has_complete = false;
  r.expect('{');
  if (!r.consume('}')) {
    do {
      std::string field = r.string();
      r.expect(':');
      if (field == "stage") {
        m.stage = r.string();
        has_stage = true;
      } else if (field == "key") {
        m.key = r.string();
        has_key = true;
      } else if (field == "complete") {
        m.complete = r.boolean();
        has_complete = true;
      } else if (field == "info") {
        m.info = r.string_map();
      } else {
        r.fail(fmt::format("unknown field '{}'", field));
      }
    } while (r.consume(','));
    r.expect('}');
  }
  if (!r.at_end()) r.fail("trailing data");
  if (!has_stage || !has_key || !has_complete) r.fail("missing stage, key or complete");
  return m;
}

bool manifest_matches(const std::string& path, const std::string& key) {
  auto m = load_manifest(path);
  return m && m->complete && m->key == key;
}

// ---- checkpoints ----
//
// Archive layout (format 1): "format", "epoch" (ints); for each group in {param,
// buffer, extra}: "<group>/names" (list of strings) and "<group>/<i>" (tensors), so
// names are free-form (torch archive keys are not); "optimizer" (nested archive).

namespace {

constexpr std::int64_t kCheckpointFormat = 1;

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

template <typename Dict>
NamedTensors to_named(const Dict& dict) {
  NamedTensors out;
  for (const auto& item : dict) out.emplace_back(item.key(), item.value());
  return out;
}

void write_group(torch::serialize::OutputArchive& archive, const std::string& group,
                 const NamedTensors& items) {
  c10::List<std::string> names;
  for (std::size_t i = 0; i < items.size(); ++i) {
    names.push_back(items[i].first);
    archive.write(fmt::format("{}/{}", group, i), items[i].second.detach(), /*is_buffer=*/true);
  }
  archive.write(group + "/names", c10::IValue(names));
}

NamedTensors read_group(torch::serialize::InputArchive& archive, const std::string& group) {
  c10::IValue names;
  archive.read(group + "/names", names);
  auto list = names.toList();
  NamedTensors out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    torch::Tensor t;
    archive.read(fmt::format("{}/{}", group, i), t, /*is_buffer=*/true);
    out.emplace_back(list.get(i).toStringRef(), t);
  }
  return out;
}

torch::Device module_device(torch::nn::Module& module) {
  for (const auto& p : module.parameters()) return p.device();
  for (const auto& b : module.buffers()) return b.device();
  return torch::kCPU;
}

// Pairs each model tensor with its saved value; throws unless names, shapes and
// dtypes agree exactly.
std::vector<std::pair<torch::Tensor, torch::Tensor>> match_group(const std::string& path,
                                                                 const char* what,
                                                                 const NamedTensors& model,
                                                                 const NamedTensors& saved) {
  std::map<std::string, torch::Tensor> by_name(saved.begin(), saved.end());
  std::vector<std::pair<torch::Tensor, torch::Tensor>> pairs;
  for (const auto& [name, target] : model) {
    auto it = by_name.find(name);
    HARDY_THROW_IF_NOT_MSG(it != by_name.end(),
                           "checkpoint '{}' does not match the model: it has no {} '{}'; delete "
                           "it if the model configuration changed",
                           path, what, name);
    const auto& value = it->second;
    HARDY_THROW_IF_NOT_MSG(
        value.sizes() == target.sizes() && value.scalar_type() == target.scalar_type(),
        "checkpoint '{}' does not match the model: {} '{}' is {} {} in the checkpoint but {} "
        "{} in the model; delete it if the model configuration changed",
        path, what, name, c10::toString(value.scalar_type()), c10::str(value.sizes()),
        c10::toString(target.scalar_type()), c10::str(target.sizes()));
    pairs.emplace_back(target, value);
    by_name.erase(it);
  }
  HARDY_THROW_IF_NOT_MSG(by_name.empty(),
                         "checkpoint '{}' does not match the model: it has {} '{}' that the "
                         "model lacks; delete it if the model configuration changed",
                         path, what, by_name.begin()->first);
  return pairs;
}

[[noreturn]] void corrupt_checkpoint(const std::string& path, const std::string& why) {
  HARDY_THROW_MSG("checkpoint '{}' is corrupt or truncated ({}); delete it to restart the "
                  "stage from scratch",
                  path, why);
}

}  // namespace

void save_checkpoint(const std::string& path, torch::nn::Module& module,
                     torch::optim::Optimizer& optimizer, const CheckpointState& state) {
  NamedTensors extra(state.extra.begin(), state.extra.end());
  for (const auto& [name, t] : extra)
    HARDY_THROW_IF_NOT_MSG(t.defined(), "checkpoint '{}': extra tensor '{}' is undefined", path,
                           name);
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(kCheckpointFormat));
  archive.write("epoch", c10::IValue(state.epoch));
  write_group(archive, "param", to_named(module.named_parameters(/*recurse=*/true)));
  write_group(archive, "buffer", to_named(module.named_buffers(/*recurse=*/true)));
  write_group(archive, "extra", extra);
  torch::serialize::OutputArchive optimizer_archive(archive.compilation_unit());
  optimizer.save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, bytes.str());
  spdlog::debug("checkpoint {} written (epoch {})", path, state.epoch);
}

std::optional<CheckpointState> load_checkpoint(const std::string& path,
                                               torch::nn::Module& module,
                                               torch::optim::Optimizer& optimizer) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  const std::string bytes = read_file(path);

  CheckpointState state;
  NamedTensors params, buffers;
  torch::serialize::InputArchive archive, optimizer_archive;
  try {
    archive.load_from(bytes.data(), bytes.size(), module_device(module));
    c10::IValue format, epoch;
    archive.read("format", format);
    if (format.toInt() != kCheckpointFormat)
      corrupt_checkpoint(path, fmt::format("format {}, expected {}", format.toInt(),
                                           kCheckpointFormat));
    archive.read("epoch", epoch);
    state.epoch = epoch.toInt();
    params = read_group(archive, "param");
    buffers = read_group(archive, "buffer");
    for (auto& [name, t] : read_group(archive, "extra")) state.extra[name] = t;
    archive.read("optimizer", optimizer_archive);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    corrupt_checkpoint(path, e.what_without_backtrace());
  } catch (const std::exception& e) {
    corrupt_checkpoint(path, e.what());
  }

  auto pairs = match_group(path, "parameter", to_named(module.named_parameters(true)), params);
  auto buffer_pairs = match_group(path, "buffer", to_named(module.named_buffers(true)), buffers);
  pairs.insert(pairs.end(), buffer_pairs.begin(), buffer_pairs.end());

  // The optimizer first: if its state does not fit, the module stays untouched.
  try {
    optimizer.load(optimizer_archive);
  } catch (const c10::Error& e) {
    HARDY_THROW_MSG("checkpoint '{}': the optimizer state does not match the optimizer ({}); "
                    "delete it if the training configuration changed",
                    path, e.what_without_backtrace());
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, value] : pairs) target.copy_(value);
  spdlog::debug("checkpoint {} loaded (epoch {})", path, state.epoch);
  return state;
}

}  // namespace hardy
