#include "train/file_io.h"

#include "core/error.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

namespace hardy {

namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

// Owns a POSIX file descriptor, so every way out of a function (an exception
// included) closes it exactly once.
class UniqueFd {
 public:
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  // Closes now and says whether that worked: for a file just written, a failed close
  // can mean lost data (NFS reports write errors there), which the destructor could
  // only ignore.
  bool close() noexcept {
    const int fd = std::exchange(fd_, -1);
    return fd < 0 || ::close(fd) == 0;
  }

 private:
  int fd_;
};

// Removes the temp file on every way out unless the rename made it the real one.
class TempFileGuard {
 public:
  explicit TempFileGuard(std::string path) : path_(std::move(path)) {}
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  ~TempFileGuard() {
    if (!committed_) ::unlink(path_.c_str());
  }
  void commit() noexcept { committed_ = true; }

 private:
  std::string path_;
  bool committed_ = false;
};

// Best effort: some filesystems refuse fsync on a directory, and the data itself
// is already durable by then; only the rename could be lost on power failure.
void fsync_directory(const fs::path& dir) {
  UniqueFd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.valid()) ::fsync(fd.get());
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
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  HARDY_THROW_IF_NOT_MSG(fd.valid(), "cannot create '{}': {} (is the directory writable?)", tmp,
                         errno_text());
  TempFileGuard guard(tmp);
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd.get(), p, left);
    if (n < 0 && errno == EINTR) continue;
    HARDY_THROW_IF_NOT_MSG(n > 0, "cannot write '{}': {} (is the disk full?)", tmp,
                           errno_text());
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  HARDY_THROW_IF_NOT_MSG(::fsync(fd.get()) == 0, "cannot flush '{}' to disk: {}", tmp,
                         errno_text());
  HARDY_THROW_IF_NOT_MSG(fd.close(), "cannot close '{}': {}", tmp, errno_text());
  HARDY_THROW_IF_NOT_MSG(::rename(tmp.c_str(), path.c_str()) == 0,
                         "cannot move '{}' to '{}': {}", tmp, path, errno_text());
  guard.commit();
  fsync_directory(dir);
}

std::string read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  HARDY_THROW_IF_NOT_MSG(fd.valid(), "cannot open '{}': {}", path, errno_text());
  std::string bytes;
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    HARDY_THROW_IF_NOT_MSG(n >= 0, "cannot read '{}': {}", path, errno_text());
    if (n == 0) break;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  return bytes;
}

std::string move_aside(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return "";
  const auto aside = path + ".corrupt";
  std::filesystem::rename(path, aside, ec);
  return ec ? "" : aside;
}

}  // namespace hardy
