// BatchNorm handles: aliasing, momentum, device moves.
#include <gtest/gtest.h>

#include "model_test_util.h"

namespace closerlook {
namespace {
using namespace closerlook::testing;

TEST(ModelBatchNorm, HandlesAliasBuffersAndChangeOutput) {
  auto s = vgg_spec();
  auto net = build_model(s, 1);
  auto bns = net->batchnorms();
  ASSERT_EQ(bns.size(), 8u);
  EXPECT_EQ(bns[0].name, "features.1");
  EXPECT_EQ(bns[0].running_mean.size(0), 16);
  net->train(false);
  auto x = input_for(s, 2);
  auto before = net->forward(x);
  {
    torch::NoGradGuard ng;
    bns[0].running_var.fill_(4.0);
    bns[0].running_mean.fill_(0.5);
  }
  auto after = net->forward(x);
  EXPECT_FALSE(torch::allclose(before, after));
  // the buffer seen by named_buffers is the same tensor
  for (auto& b : net->named_buffers())
    if (b.first == "features.1.running_var") EXPECT_TRUE(torch::equal(b.second, torch::full({16}, 4.0)));
  EXPECT_TRUE(build_model(vgg_spec("vgg11", 0.25, false), 1)->batchnorms().empty());
  EXPECT_EQ(build_model(mlp_spec({8, 8}, true), 1)->batchnorms().size(), 2u);
  EXPECT_EQ(build_model(resnet_spec("resnet8"), 1)->batchnorms().size(), 1u + 2 + 3 + 3);
}

TEST(ModelBatchNorm, MomentumSetGetAndEffect) {
  auto s = vgg_spec();
  auto net = build_model(s, 1);
  auto bns = net->batchnorms();
  EXPECT_DOUBLE_EQ(bns[0].get_momentum(), 0.1);
  for (auto& h : bns) h.set_momentum(1.0);
  EXPECT_DOUBLE_EQ(bns[3].get_momentum(), 1.0);
  // momentum 1: running stats = the last batch's statistics of the layer's input
  net->train(true);
  auto x = input_for(s, 4);
  std::map<std::string, torch::Tensor> acts;
  {
    torch::NoGradGuard ng;
    net->forward(x);
  }
  // first BN sees conv1's pre-activation: recompute it from the parameters
  auto params = net->named_parameters();
  auto conv = torch::conv2d(x, params[0].second, params[1].second, 1, 1);
  auto mean = conv.mean({0, 2, 3});
  auto var = conv.var({0, 2, 3}, /*unbiased=*/true);
  EXPECT_TRUE(torch::allclose(bns[0].running_mean, mean, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(bns[0].running_var, var, 1e-4, 1e-6));
  bns[0].set_momentum(-1);  // cumulative average (PyTorch momentum=None)
  EXPECT_DOUBLE_EQ(bns[0].get_momentum(), -1.0);
  bns[0].set_momentum(0.1);
  EXPECT_DOUBLE_EQ(bns[0].get_momentum(), 0.1);
}

TEST(ModelBatchNorm, HandlesSurviveDeviceMove) {
  auto net = build_model(vgg_spec(), 1);
  auto bns = net->batchnorms();
  net->to(torch::kCPU);
  {
    torch::NoGradGuard ng;
    bns[1].running_mean.fill_(2.0);
  }
  auto again = net->batchnorms();
  EXPECT_TRUE(torch::equal(again[1].running_mean, torch::full({32}, 2.0)));
}

}  // namespace
}  // namespace closerlook
