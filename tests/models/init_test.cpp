// Initialisation statistics and seeding.
#include <gtest/gtest.h>

#include <cmath>

#include "model_test_util.h"

namespace closerlook {
namespace {
using namespace closerlook::testing;

torch::Tensor param(Network& net, const std::string& name) {
  for (auto& p : net.named_parameters())
    if (p.first == name) return p.second;
  ADD_FAILURE() << "no parameter " << name;
  return {};
}

TEST(ModelInit, StdMatchesKaimingFanOutAndLinearTimesInitScale) {
  // VGG-11 at width 1: features.25 is a 512x512x3x3 conv (2.4M weights), classifier.0 is 512x512.
  for (double scale : {1.0, 3.0}) {
    auto s = vgg_spec("vgg11", 1.0, true, {512});
    s.init_scale = scale;
    auto net = build_model(s, 11);
    auto conv = param(*net, "features.25.weight");
    ASSERT_EQ(conv.sizes(), (std::vector<int64_t>{512, 512, 3, 3}));
    const double conv_target = std::sqrt(2.0 / (3 * 3 * 512)) * scale;
    EXPECT_NEAR(conv.std().item<double>() / conv_target, 1.0, 0.01);
    EXPECT_NEAR(conv.mean().item<double>(), 0.0, 0.01 * conv_target);
    auto lin = param(*net, "classifier.0.weight");
    ASSERT_EQ(lin.sizes(), (std::vector<int64_t>{512, 512}));
    EXPECT_NEAR(lin.std().item<double>() / (0.01 * scale), 1.0, 0.02);
    // first conv: fan-out 9*64 (not fan-in 9*1)
    auto first = param(*net, "features.0.weight");
    EXPECT_NEAR(first.std().item<double>() / (std::sqrt(2.0 / (9 * 64)) * scale), 1.0, 0.1);
    EXPECT_EQ(param(*net, "features.0.bias").abs().max().item<double>(), 0.0);
    EXPECT_EQ(param(*net, "classifier.0.bias").abs().max().item<double>(), 0.0);
    EXPECT_TRUE(torch::equal(param(*net, "features.1.weight"), torch::ones({64})));
    EXPECT_TRUE(torch::equal(param(*net, "features.1.bias"), torch::zeros({64})));
  }
}

TEST(ModelInit, ResNetShortcutUsesItsOwnFanOut) {
  auto s = resnet_spec("resnet18", 1.0);
  auto net = build_model(s, 5);
  auto sc = param(*net, "layer4.0.shortcut.0.weight");  // 512x256x1x1
  ASSERT_EQ(sc.sizes(), (std::vector<int64_t>{512, 256, 1, 1}));
  EXPECT_NEAR(sc.std().item<double>() / std::sqrt(2.0 / 512), 1.0, 0.02);
}

TEST(ModelInit, SameSeedSameWeightsDifferentSeedDifferent) {
  auto s = vgg_spec();
  auto a = build_model(s, 42), b = build_model(s, 42), c = build_model(s, 43);
  auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  bool any_diff = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::equal(pa[i].second, pb[i].second)) << pa[i].first;
    if (pa[i].second.numel() > 1 && pa[i].second.std().item<double>() > 0)
      any_diff |= !torch::equal(pa[i].second, pc[i].second);
  }
  EXPECT_TRUE(any_diff);
  EXPECT_FALSE(torch::equal(pa[0].second, pc[0].second));
}

TEST(ModelInit, InitScaleIsNotPartOfArch) {
  auto s = vgg_spec();
  auto a = build_model(s, 1);
  s.init_scale = 4;
  auto b = build_model(s, 1);
  EXPECT_EQ(a->arch(), b->arch());
  EXPECT_EQ(a->arch(), "vgg11 w=0.25 bn=1 fc=[128,128] drop=0 in=1x32x32 classes=10");
  // same seed, same draws: every conv/linear weight scales by exactly 4
  auto pa = a->named_parameters(), pb = b->named_parameters();
  EXPECT_TRUE(torch::allclose(pb[0].second, 4 * pa[0].second));
  s.dropout = 0.5;
  EXPECT_NE(build_model(s, 1)->arch(), a->arch());
}

}  // namespace
}  // namespace closerlook
