// Shared by the fuzz targets: a scratch file per process, and the rule for what counts as a
// finding. A parser may reject any input, but only with closerlook::Error (the one-line,
// file-naming message main() prints); a crash, a sanitizer report, a hang or any other exception
// type escaping is a finding.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

#include "core/error.h"

namespace closerlook::fuzz {

// A per-process scratch path (libFuzzer may run several jobs in one folder).
inline std::string scratch_path(const std::string& suffix) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/closerlook-fuzz-" + std::to_string(::getpid()) + suffix;
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// Runs `fn`; closerlook::Error is an accepted rejection, anything else aborts (a finding).
template <class Fn>
void expect_clean(const char* target, Fn&& fn) {
  try {
    fn();
  } catch (const closerlook::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: unexpected exception type escaped: %s\n", target, e.what());
    std::abort();
  }
}

}  // namespace closerlook::fuzz
