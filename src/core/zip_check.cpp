#include "core/zip_check.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>

#include "core/error.h"

namespace closerlook {
namespace {

uint64_t le(const std::string& b, uint64_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[pos + i]);
  return v;
}

// CRC-32 of the raw-deflate stream b[data, data + csize), which must inflate to exactly usize bytes.
template <class Bad>
uLong inflated_crc(const std::string& b, uint64_t data, uint64_t csize, uint64_t usize, Bad&& bad) {
  if (csize > (uint64_t(1) << 31) || usize > (uint64_t(1) << 31)) bad("compressed record too large to check");
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK) bad("zlib cannot start");
  std::string out(64 * 1024, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(b.data() + data));
  zs.avail_in = static_cast<uInt>(csize);
  uLong c = crc32(0L, Z_NULL, 0);
  uint64_t total = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    const uint64_t got = out.size() - zs.avail_out;
    total += got;
    c = crc32(c, reinterpret_cast<const Bytef*>(out.data()), static_cast<uInt>(got));
    if (total > usize || (rc != Z_OK && rc != Z_STREAM_END) || (rc == Z_OK && got == 0 && zs.avail_in == 0)) {
      inflateEnd(&zs);
      bad("damaged compressed data");
    }
  }
  inflateEnd(&zs);
  if (total != usize) bad("compressed data inflates to " + std::to_string(total) + " bytes, not " + std::to_string(usize));
  return c;
}

}  // namespace

void verify_zip_records(const std::string& b, const std::string& name) {
  auto bad = [&](const std::string& what) { throw_bad_input(name + ": corrupt checkpoint archive: " + what); };
  const uint64_t n = b.size();
  if (n < 22) bad("too short to be a zip archive (" + std::to_string(n) + " bytes)");
  // End of central directory: the last signature 0x06054b50 within the final 64 KiB + 22 bytes.
  uint64_t eocd = UINT64_MAX;
  const uint64_t lo = n > 65557 ? n - 65557 : 0;
  for (uint64_t p = n - 22 + 1; p-- > lo;)
    if (le(b, p, 4) == 0x06054b50) {
      eocd = p;
      break;
    }
  if (eocd == UINT64_MAX) bad("no end-of-central-directory record (truncated?)");
  uint64_t entries = le(b, eocd + 10, 2), cd_size = le(b, eocd + 12, 4), cd_off = le(b, eocd + 16, 4);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) {
    // ZIP64: the locator sits just before the end record and points at the ZIP64 end record.
    if (eocd < 20 || le(b, eocd - 20, 4) != 0x07064b50) bad("ZIP64 locator missing");
    const uint64_t z = le(b, eocd - 20 + 8, 8);
    if (z > n || n - z < 56 || le(b, z, 4) != 0x06064b50) bad("ZIP64 end record out of bounds");
    entries = le(b, z + 32, 8);
    cd_size = le(b, z + 40, 8);
    cd_off = le(b, z + 48, 8);
  }
  if (cd_off > n || cd_size > n - cd_off) bad("central directory out of bounds");
  if (entries == 0) bad("no records");
  uint64_t p = cd_off;
  for (uint64_t e = 0; e < entries; ++e) {
    if (p > n || n - p < 46 || le(b, p, 4) != 0x02014b50) bad("central directory entry " + std::to_string(e) + " is broken");
    const uint64_t method = le(b, p + 10, 2), crc = le(b, p + 16, 4);
    uint64_t csize = le(b, p + 20, 4), usize = le(b, p + 24, 4);
    const uint64_t name_len = le(b, p + 28, 2), extra_len = le(b, p + 30, 2), comment_len = le(b, p + 32, 2);
    uint64_t local = le(b, p + 42, 4);
    if (n - p - 46 < name_len + extra_len + comment_len) bad("central directory entry " + std::to_string(e) + " overruns");
    const std::string entry = b.substr(p + 46, name_len);
    // ZIP64 extended information (extra field 0x0001) replaces the saturated 32-bit fields, in order.
    for (uint64_t x = p + 46 + name_len, end = x + extra_len; x + 4 <= end;) {
      const uint64_t id = le(b, x, 2), len = le(b, x + 2, 2);
      if (x + 4 + len > end) bad("'" + entry + "': extra field overruns");
      if (id == 0x0001) {
        uint64_t q = x + 4;
        auto take = [&](uint64_t& field) {
          if (field != 0xFFFFFFFF) return;
          if (q + 8 > x + 4 + len) bad("'" + entry + "': ZIP64 field missing");
          field = le(b, q, 8);
          q += 8;
        };
        take(usize);
        take(csize);
        take(local);
      }
      x += 4 + len;
    }
    if (method != 0 && method != 8) bad("'" + entry + "': unsupported compression method " + std::to_string(method));
    if (local > n || n - local < 30 || le(b, local, 4) != 0x04034b50) bad("'" + entry + "': local header out of bounds");
    // The local header must describe the same record: LibTorch looks records up by name, and a
    // damaged name (not covered by any CRC) sends its TorchScript importer into a crash.
    const uint64_t local_name_len = le(b, local + 26, 2);
    if (n - local - 30 < local_name_len || local_name_len != name_len || b.compare(local + 30, name_len, entry) != 0)
      bad("'" + entry + "': the local header names a different record");
    if ((le(b, local + 6, 2) & 0x8) == 0 && le(b, local + 14, 4) != crc && usize != 0xFFFFFFFF)
      bad("'" + entry + "': local and central CRC-32 differ");
    const uint64_t data = local + 30 + le(b, local + 26, 2) + le(b, local + 28, 2);
    if (data > n || csize > n - data) bad("'" + entry + "': record data out of bounds (truncated file?)");
    uLong c = crc32(0L, Z_NULL, 0);
    if (method == 8) {
      // Deflated (LibTorch compresses the TorchScript code records): inflate and check the CRC
      // of the result, which must be exactly the declared size.
      c = inflated_crc(b, data, csize, usize, [&](const std::string& what) { bad("'" + entry + "': " + what); });
    } else {
      if (csize != usize) bad("'" + entry + "': stored record with differing sizes");
      // zlib's crc32 takes uInt lengths: feed large records in chunks.
      for (uint64_t off = 0; off < usize;) {
        const uint64_t step = std::min<uint64_t>(usize - off, 1u << 30);
        c = crc32(c, reinterpret_cast<const Bytef*>(b.data() + data + off), static_cast<uInt>(step));
        off += step;
      }
    }
    if (c != crc) bad("'" + entry + "': CRC-32 mismatch (the file was altered or damaged)");
    p += 46 + name_len + extra_len + comment_len;
  }
}

}  // namespace closerlook
