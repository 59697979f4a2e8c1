#include "data/idx.h"

#include <zlib.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"

namespace closerlook {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803, kLabelsMagic = 0x00000801;

// gzopen also reads plain (uncompressed) files transparently.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    if (!file_exists(path)) throw_bad_input(path + ": IDX file not found");
    f_ = gzopen(path.c_str(), "rb");
    if (!f_) throw_bad_input(path + ": cannot open IDX file");
  }
  ~GzReader() {
    if (f_) gzclose(f_);
  }
  // Reads up to n bytes; returns how many were read. A corrupt stream is an error.
  size_t read(void* dst, size_t n) {
    size_t done = 0;
    auto* p = static_cast<char*>(dst);
    while (done < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
      const int got = gzread(f_, p + done, chunk);
      if (got < 0) {
        int err = 0;
        const char* msg = gzerror(f_, &err);
        throw_bad_input(path_ + ": corrupt gzip stream: " + (msg ? msg : "unknown zlib error"));
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    // A gzip stream cut short reads as EOF plus a Z_BUF_ERROR; report it as truncation below.
    return done;
  }
  uint32_t read_be32(const char* what) {
    unsigned char b[4];
    if (read(b, 4) != 4) throw_bad_input(path_ + ": truncated IDX header (reading " + what + ")");
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
  }
  bool at_end() {
    char c;
    return read(&c, 1) == 0;
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
};

std::string hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof(b), "0x%08x", v);
  return b;
}

torch::Tensor read_payload(GzReader& r, const std::string& path, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  // Read in chunks, growing the buffer as data arrives, so a corrupt header claiming billions
  // of images fails as "truncated" instead of trying to allocate that much up front.
  std::vector<uint8_t> buf;
  size_t got = 0;
  const size_t want = static_cast<size_t>(n), chunk = size_t(64) << 20;
  while (got < want) {
    const size_t step = std::min(chunk, want - got);
    buf.resize(got + step);
    const size_t k = r.read(buf.data() + got, step);
    got += k;
    if (k < step) break;
  }
  if (got != want)
    throw_bad_input(path + ": truncated IDX payload: expected " + std::to_string(n) + " bytes, got " +
                    std::to_string(got));
  if (!r.at_end()) throw_bad_input(path + ": IDX file has trailing bytes after the expected " + std::to_string(n));
  return torch::from_blob(buf.data(), shape, torch::kUInt8).clone();
}

void check_magic(uint32_t magic, uint32_t want, const std::string& path, const char* kind) {
  if (magic != want)
    throw_bad_input(path + ": wrong IDX magic " + hex(magic) + " for " + kind + " (expected " + hex(want) + ")");
}

}  // namespace

torch::Tensor read_idx_images(const std::string& path) {
  GzReader r(path);
  check_magic(r.read_be32("magic"), kImagesMagic, path, "images");
  const uint32_t n = r.read_be32("count"), rows = r.read_be32("rows"), cols = r.read_be32("cols");
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096)
    throw_bad_input(path + ": implausible IDX image size " + std::to_string(rows) + "x" + std::to_string(cols));
  return read_payload(r, path, {int64_t(n), int64_t(rows), int64_t(cols)});
}

torch::Tensor read_idx_labels(const std::string& path) {
  GzReader r(path);
  check_magic(r.read_be32("magic"), kLabelsMagic, path, "labels");
  const uint32_t n = r.read_be32("count");
  return read_payload(r, path, {int64_t(n)});
}

}  // namespace closerlook
