// IDX reader (images and labels, plain and gzip). Byte 0 picks the reader (bit 0) and whether the
// rest is gzip-compressed here first (bit 1), so mutations of the IDX structure also reach the
// reader through zlib; raw bytes that start with the gzip magic exercise the inflate path directly.
#include <zlib.h>

#include <vector>

#include "data/idx.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const uint8_t* body = data + 1;
  size_t n = size - 1;
  std::vector<uint8_t> packed;
  const std::string path = closerlook::fuzz::scratch_path((mode & 2) ? ".idx.gz" : ".idx");
  if (mode & 2) {
    uLongf cap = compressBound(n) + 32;
    packed.resize(cap);
    // gzip wrapper (windowBits 15 + 16) so gzopen recognises it.
    z_stream s{};
    deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    s.next_in = const_cast<Bytef*>(body);
    s.avail_in = static_cast<uInt>(n);
    s.next_out = packed.data();
    s.avail_out = static_cast<uInt>(cap);
    deflate(&s, Z_FINISH);
    packed.resize(cap - s.avail_out);
    deflateEnd(&s);
    body = packed.data();
    n = packed.size();
  }
  closerlook::fuzz::write_file(path, body, n);
  closerlook::fuzz::expect_clean("fuzz_idx", [&] {
    auto t = (mode & 1) ? closerlook::read_idx_labels(path) : closerlook::read_idx_images(path);
    if (t.scalar_type() != torch::kUInt8) std::abort();
  });
  std::remove(path.c_str());
  return 0;
}
