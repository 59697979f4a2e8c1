// Manual timing (disabled by default): forward + backward of vgg11-w16 at batch 128.
// Run: test_models --gtest_also_run_disabled_tests --gtest_filter='*Speed*'
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "model_test_util.h"

namespace closerlook {
namespace {
using namespace closerlook::testing;

TEST(ModelSpeed, DISABLED_Vgg11W16ForwardBackward) {
  auto s = vgg_spec();
  auto net = build_model(s, 1);
  net->train(true);
  auto x = input_for(s, 128);
  auto y = torch::arange(128) % 10;
  auto step = [&] {
    for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
    torch::nn::functional::cross_entropy(net->forward(x), y).backward();
  };
  for (int i = 0; i < 3; ++i) step();
  const int n = 20;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) step();
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("vgg11-w16 fwd+bwd, batch 128, %d threads: %.0f img/s\n", at::get_num_threads(), n * 128 / sec);
}

}  // namespace
}  // namespace closerlook
