// Helpers of the TorchScript tests: the Python fixture (tests/models/jit_fixture.py, run once
// and shared by every test process through an atomically renamed folder) and running commands.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "core/atomic_file.h"
#include "core/error.h"
#include "model_test_util.h"
#include "models/jit_network.h"

namespace closerlook::testing {

struct CommandResult {
  int code = -1;       // exit code (-1: did not exit normally)
  std::string output;  // stdout + stderr
};

inline CommandResult run_command(const std::string& cmd) {
  namespace fs = std::filesystem;
  const std::string log = (fs::temp_directory_path() / ("cl_jit_cmd_" + std::to_string(::getpid()) + ".log")).string();
  const int status = std::system((cmd + " > " + log + " 2>&1").c_str());
  CommandResult r;
  if (WIFEXITED(status)) r.code = WEXITSTATUS(status);
  r.output = file_exists(log) ? read_file(log) : std::string();
  std::remove(log.c_str());
  return r;
}

inline std::string python_fixture_script() { return std::string(CL_SOURCE_DIR) + "/tests/models/jit_fixture.py"; }

// The fixture folder (made on first use; rebuilt when jit_fixture.py changes), or "" when
// /usr/bin/python3 has no torch/numpy. A failure of the script fails the calling test.
inline std::string jit_fixture_dir() {
  namespace fs = std::filesystem;
  static std::string dir = [] {
    if (!file_exists("/usr/bin/python3")) return std::string();
    const std::string script = read_file(python_fixture_script());
    const std::string stamp = std::to_string(std::hash<std::string>{}(script));
    const fs::path root = fs::path(CL_BINARY_DIR) / "test_models_tmp";
    const fs::path final_dir = root / ("jit_fixture_" + stamp);
    if (fs::exists(final_dir / "oracle.json")) return final_dir.string();
    fs::create_directories(root);
    const fs::path tmp = root / ("jit_fixture_tmp_" + std::to_string(::getpid()));
    fs::remove_all(tmp);
    auto r = run_command("/usr/bin/python3 " + python_fixture_script() + " make " + tmp.string());
    if (r.code == 77) return std::string();
    if (r.code != 0) {
      ADD_FAILURE() << "jit_fixture.py make failed:\n" << r.output;
      return std::string("FAILED");
    }
    std::error_code ec;
    fs::rename(tmp, final_dir, ec);  // another process may have won the race: use its folder
    if (ec) fs::remove_all(tmp);
    return final_dir.string();
  }();
  return dir;
}

#define JIT_FIXTURE_OR_SKIP(var)                                                        \
  const std::string var = ::closerlook::testing::jit_fixture_dir();                     \
  if (var.empty()) GTEST_SKIP() << "/usr/bin/python3 lacks torch or numpy";             \
  ASSERT_NE(var, "FAILED") << "the Python fixture failed (see the first test's output)"

// JitNetwork options for the fixture's 1x12x12, 4-class data.
inline JitModelOptions fixture_model(const std::string& dir, const std::string& file,
                                     std::vector<std::string> probes = {}) {
  JitModelOptions o;
  o.path = dir + "/" + file;
  o.probes = std::move(probes);
  o.input_shape = {1, 12, 12};
  o.num_classes = 4;
  return o;
}

// Runs `fn` expecting a closerlook::Error whose message contains every one of `parts`.
template <class Fn>
void expect_error(Fn&& fn, std::initializer_list<const char*> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (const char* p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

}  // namespace closerlook::testing
