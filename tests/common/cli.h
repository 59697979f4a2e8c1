// Running the built closerlook binary from a test: its path, and one call that returns the exit
// status and everything it printed (stdout + stderr).
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <utility>

namespace closerlook::testing {

inline std::string closerlook_binary() { return std::string(CL_BINARY_DIR) + "/closerlook"; }

// `closerlook ARGS 2>&1`: (exit status, or -1 when it did not exit normally; output).
inline std::pair<int, std::string> run_closerlook(const std::string& args) {
  const std::string cmd = closerlook_binary() + " " + args + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return {-1, "popen failed: " + cmd};
  std::string out;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, got);
  const int status = pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace closerlook::testing
