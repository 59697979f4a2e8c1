// A saved checkpoint opened by the Python peer's torch (CL_PYTHON: the torch wheel's python,
// torch.jit.load): same names, same values, and an independently written eager PyTorch model
// (VGG, kuangliu ResNet, MLP) loads it with strict=True and gives the same logits.
// Also checks that Python's torch.manual_seed + the paper's init loop draws the same weights.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>

#include "../common/require.h"
#include "core/atomic_file.h"
#include "core/npy.h"
#include "model_test_util.h"

namespace closerlook {
namespace {
using namespace closerlook::testing;

TEST(ModelPython, CheckpointNamesValuesLogitsAndInitMatchPyTorch) {
  struct Case {
    ModelSpec spec;
    uint64_t seed;
    NetworkPtr net;
    torch::Tensor x;
    std::string dir;
  };
  std::vector<Case> cases;
  std::string cmd = python_command() + " " + std::string(CL_SOURCE_DIR) + "/tests/models/python_crosscheck.py";
  std::vector<ModelSpec> specs = {vgg_spec("vgg11", 0.125, true, {16, 12}), vgg_spec("vgg13", 0.125, false, {16}),
                                  resnet_spec("resnet8", 0.5, true), resnet_spec("resnet8", 0.25, false),
                                  mlp_spec({16, 8}, true)};
  for (size_t k = 0; k < specs.size(); ++k) {
    Case c;
    c.spec = specs[k];
    c.spec.num_classes = 6;
    c.seed = 5 + k;
    c.net = build_model(c.spec, c.seed);
    {  // BN statistics and weights away from their initial values
      torch::NoGradGuard ng;
      for (auto& b : c.net->named_buffers())
        if (b.second.is_floating_point()) b.second.uniform_(0.5, 1.5);
      for (auto& p : c.net->named_parameters()) p.second.add_(torch::randn_like(p.second) * 0.05);
    }
    c.dir = temp_path("python" + std::to_string(k));
    make_dirs(c.dir);
    c.net->save(c.dir + "/net.pt");
    c.x = input_for(c.spec, 3);
    write_npy(c.dir + "/input.npy", c.x);
    cmd += " " + c.dir + "/net.pt " + c.dir + "/input.npy " + std::to_string(c.seed) + " " + c.dir;
    cases.push_back(c);
  }
  const std::string log = temp_path("python_log.txt");
  cmd += " > " + log + " 2>&1";
  const int status = std::system(cmd.c_str());
  CL_REQUIRE_OR_SKIP(!(WIFEXITED(status) && python_prerequisite_missing(WEXITSTATUS(status))),
                     "the Python peer " << CL_PYTHON << " is missing or lacks torch/numpy: " << read_file(log));
  ASSERT_EQ(status, 0) << read_file(log);

  for (auto& c : cases) {
    const std::string& dir = c.dir;
    std::vector<NamedTensor> expected;
    for (auto& p : c.net->named_parameters()) expected.emplace_back("P " + p.first, p.second);
    for (auto& b : c.net->named_buffers()) expected.emplace_back("B " + b.first, b.second);
    std::ifstream names(dir + "/names.txt");
    std::string line;
    size_t i = 0;
    for (; std::getline(names, line); ++i) {
      ASSERT_LT(i, expected.size()) << line;
      EXPECT_EQ(line, expected[i].first);
      EXPECT_TRUE(torch::equal(read_npy(dir + "/t" + std::to_string(i) + ".npy"), expected[i].second)) << line;
    }
    EXPECT_EQ(i, expected.size());

    c.net->train(false);
    auto logits = c.net->forward(c.x);
    auto py_logits = read_npy(dir + "/logits.npy");
    EXPECT_TRUE(torch::allclose(logits, py_logits, 1e-5, 1e-6)) << (logits - py_logits).abs().max();

    // Python: torch.manual_seed(seed) + the init loop draws exactly build_model's weights.
    auto fresh = build_model(c.spec, c.seed)->named_parameters();
    for (size_t k = 0; k < fresh.size(); ++k)
      EXPECT_TRUE(torch::equal(fresh[k].second, read_npy(dir + "/init" + std::to_string(k) + ".npy"))) << fresh[k].first;
  }
}

}  // namespace
}  // namespace closerlook
