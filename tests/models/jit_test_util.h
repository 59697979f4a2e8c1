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

#include "../common/require.h"
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

// The fixture folder, made on first use by the Python peer (CL_PYTHON) and rebuilt when
// jit_fixture.py changes. `missing` says why it could not be made when the prerequisite is
// absent (no such python, or it lacks torch/numpy); `failed` holds the script's output when it
// ran and failed, which fails the calling test.
struct JitFixture {
  std::string dir;
  std::string missing;
  std::string failed;
};

inline const JitFixture& jit_fixture() {
  namespace fs = std::filesystem;
  static const JitFixture fixture = [] {
    JitFixture f;
    const std::string script = read_file(python_fixture_script());
    // The python is part of the stamp: a fixture written by another torch is not reused.
    const std::string stamp = std::to_string(std::hash<std::string>{}(script + "\n" + CL_PYTHON));
    const fs::path root = fs::path(CL_BINARY_DIR) / "test_models_tmp";
    const fs::path final_dir = root / ("jit_fixture_" + stamp);
    if (fs::exists(final_dir / "oracle.json")) {
      f.dir = final_dir.string();
      return f;
    }
    fs::create_directories(root);
    const fs::path tmp = root / ("jit_fixture_tmp_" + std::to_string(::getpid()));
    fs::remove_all(tmp);
    auto r = run_command(python_command() + " " + python_fixture_script() + " make " + tmp.string());
    if (python_prerequisite_missing(r.code)) {
      f.missing = std::string("the Python peer ") + CL_PYTHON + " is missing or lacks torch/numpy (exit " +
                  std::to_string(r.code) + "): " + r.output;
      return f;
    }
    if (r.code != 0) {
      f.failed = "jit_fixture.py make failed (exit " + std::to_string(r.code) + "):\n" + r.output;
      return f;
    }
    std::error_code ec;
    fs::rename(tmp, final_dir, ec);  // another process may have won the race: use its folder
    if (ec) fs::remove_all(tmp);
    f.dir = final_dir.string();
    return f;
  }();
  return fixture;
}

// const std::string var = the fixture folder; skips (fails in CI) without Python torch, fails
// when the fixture script fails.
#define JIT_FIXTURE_OR_SKIP(var)                                                            \
  const auto& var##_fixture_ = ::closerlook::testing::jit_fixture();                        \
  CL_REQUIRE_OR_SKIP(var##_fixture_.missing.empty(), var##_fixture_.missing);               \
  ASSERT_TRUE(var##_fixture_.failed.empty()) << var##_fixture_.failed;                      \
  const std::string var = var##_fixture_.dir

// A torchscript spec of the fixture's 1x12x12, 4-class data.
inline ModelSpec fixture_model(const std::string& dir, const std::string& file, std::vector<std::string> probes = {}) {
  ModelSpec o;
  o.family = "torchscript";
  o.layout = "torchscript";
  o.path = dir + "/" + file;
  o.probes = std::move(probes);
  o.in_channels = 1;
  o.image_size = 12;
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
