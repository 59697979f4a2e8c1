#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace fs = std::filesystem;

namespace closerlook {
namespace {

std::string errno_text() { return std::strerror(errno); }

void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;  // best effort for directories on exotic filesystems
  ::fsync(fd);
  ::close(fd);
}

std::string temp_name_for(const std::string& path) {
  fs::path p(path);
  return (p.parent_path() / ("." + p.filename().string() + ".tmp." + std::to_string(::getpid()))).string();
}

}  // namespace

void make_dirs(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) throw_io(path + ": cannot create folder: " + ec.message());
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

void write_atomic_with(const std::string& path, const std::function<void(const std::string&)>& writer) {
  fs::path p(path);
  if (p.has_parent_path()) make_dirs(p.parent_path().string());
  const std::string tmp = temp_name_for(path);
  try {
    writer(tmp);
    fsync_path(tmp, false);
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw_io(path + ": cannot rename temp file into place: " + errno_text());
    fsync_path(p.has_parent_path() ? p.parent_path().string() : ".", true);
  } catch (const Error&) {
    ::unlink(tmp.c_str());
    throw;
  } catch (const std::exception& e) {
    ::unlink(tmp.c_str());
    throw_io(path + ": write failed: " + e.what());
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_atomic_with(path, [&](const std::string& tmp) {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) throw_io(path + ": cannot open for writing: " + errno_text());
    const char* data = bytes.data();
    size_t left = bytes.size();
    while (left > 0) {
      ssize_t n = ::write(fd, data, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::string why = errno_text();
        ::close(fd);
        throw_io(path + ": write failed: " + why);
      }
      data += n;
      left -= static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 && errno != EINVAL) {
      std::string why = errno_text();
      ::close(fd);
      throw_io(path + ": fsync failed: " + why);
    }
    if (::close(fd) != 0) throw_io(path + ": close failed: " + errno_text());
  });
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_io(path + ": cannot open for reading" + (file_exists(path) ? "" : " (no such file)"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw_io(path + ": read failed");
  return ss.str();
}

}  // namespace closerlook
