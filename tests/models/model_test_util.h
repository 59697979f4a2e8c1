// Helpers shared by the models tests.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "models/factory.h"

namespace closerlook::testing {

inline ModelSpec vgg_spec(const std::string& layout = "vgg11", double width = 0.25, bool bn = true,
                          std::vector<int64_t> fc = {128, 128}) {
  ModelSpec s;
  s.family = "vgg";
  s.layout = layout;
  s.width = width;
  s.batchnorm = bn;
  s.fc_hidden = std::move(fc);
  return s;
}

inline ModelSpec resnet_spec(const std::string& layout = "resnet8", double width = 0.5, bool bn = true) {
  ModelSpec s;
  s.family = "resnet";
  s.layout = layout;
  s.width = width;
  s.batchnorm = bn;
  s.in_channels = 3;
  return s;
}

inline ModelSpec mlp_spec(std::vector<int64_t> hidden = {32, 16}, bool bn = false) {
  ModelSpec s;
  s.family = "mlp";
  s.layout = "mlp";
  s.mlp_hidden = std::move(hidden);
  s.batchnorm = bn;
  s.image_size = 8;
  return s;
}

inline torch::Tensor input_for(const ModelSpec& s, int64_t batch, uint64_t seed = 7) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randn({batch, s.in_channels, s.image_size, s.image_size}, gen);
}

// The Python peer (CL_PYTHON, from CMake's CLOSERLOOK_PYTHON: the python whose torch wheel
// provides LibTorch), quoted for a shell command line.
inline std::string python_command() {
  std::string q = "'";
  for (char c : std::string(CL_PYTHON)) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Exit codes of a Python helper that mean "the prerequisite is missing", not "the check failed":
// 77 (the script's own: torch or numpy cannot be imported) and 127 (the shell: no such python).
inline bool python_prerequisite_missing(int exit_code) { return exit_code == 77 || exit_code == 127; }

// A path in this test process's own scratch folder, CL_BINARY_DIR/test_models_tmp/p<pid>, so
// that two test runs in one build folder (ctest -j, or two people) never share files. The folder
// is removed at exit when every test passed, and kept for a look otherwise.
inline std::string temp_path(const std::string& name) {
  static const std::string root = [] {
    const std::string dir = std::string(CL_BINARY_DIR) + "/test_models_tmp/p" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);  // a folder left by an earlier process with this pid
    std::filesystem::create_directories(dir);
    return dir;
  }();
  static const struct Cleanup {
    ~Cleanup() {
      if (::testing::UnitTest::GetInstance()->Passed()) {
        std::error_code ec;
        std::filesystem::remove_all(root, ec);
      }
    }
  } cleanup;
  return root + "/" + name;
}

}  // namespace closerlook::testing
