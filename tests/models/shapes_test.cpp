// Output and probe shapes for every layout, probe validation, parameter names and counts.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model_test_util.h"

namespace closerlook {
namespace {
using namespace closerlook::testing;

TEST(ModelShapes, EveryLayoutGivesBatchByClasses) {
  torch::NoGradGuard ng;
  std::vector<ModelSpec> specs;
  for (std::string l : {"vgg11", "vgg13", "vgg16", "vgg19"})
    for (bool bn : {true, false}) specs.push_back(vgg_spec(l, 0.125, bn, {16}));
  specs.push_back(vgg_spec("vgg11", 0.0625, true, {}));           // linear head
  specs.push_back(vgg_spec("vgg11", 0.01, true, {8, 8, 8}));       // every width rounds up to 1
  for (std::string l : {"resnet8", "resnet20", "resnet18"})
    for (bool bn : {true, false}) specs.push_back(resnet_spec(l, l == "resnet18" ? 0.125 : 0.5, bn));
  specs.push_back(mlp_spec({32, 16}, false));
  specs.push_back(mlp_spec({32}, true));
  for (auto s : specs) {
    s.num_classes = 7;
    auto net = build_model(s, 1);
    net->train(false);
    auto y = net->forward(input_for(s, 3));
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 7})) << net->arch();
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << net->arch();
  }
}

TEST(ModelShapes, OtherImageSizesFlattenCHW) {
  torch::NoGradGuard ng;
  auto s = vgg_spec("vgg11", 0.125, true, {16});
  s.image_size = 64;  // 2x2 after five pools
  auto net = build_model(s, 1);
  EXPECT_EQ(net->named_parameters()[net->named_parameters().size() - 4].second.size(1), 64 * 4);
  EXPECT_EQ(net->forward(input_for(s, 2)).sizes(), (std::vector<int64_t>{2, 10}));
  s.image_size = 16;  // 1 -> 0 at the fifth pool
  EXPECT_THROW(build_model(s, 1), Error);
}

TEST(ModelShapes, VggW16ProbeNamesAndShapes) {
  auto s = vgg_spec();
  auto net = build_model(s, 3);
  net->train(false);
  const std::vector<std::string> expected = {"conv1", "conv2", "conv3", "conv4", "conv5", "conv6",
                                             "conv7", "conv8", "fc1",   "fc2",   "logits"};
  EXPECT_EQ(net->probe_names(), expected);
  auto x = input_for(s, 2);
  std::map<std::string, torch::Tensor> acts;
  auto logits = net->forward_probes(x, net->probe_names(), acts);
  ASSERT_EQ(acts.size(), expected.size());
  // channels and spatial size of each conv block (before its pool)
  const std::vector<std::vector<int64_t>> conv_shapes = {{16, 32}, {32, 16}, {64, 8}, {64, 8},
                                                         {128, 4}, {128, 4}, {128, 2}, {128, 2}};
  for (size_t i = 0; i < conv_shapes.size(); ++i)
    EXPECT_EQ(acts["conv" + std::to_string(i + 1)].sizes(),
              (std::vector<int64_t>{2, conv_shapes[i][0], conv_shapes[i][1], conv_shapes[i][1]}));
  EXPECT_EQ(acts["fc1"].sizes(), (std::vector<int64_t>{2, 128}));
  EXPECT_EQ(acts["fc2"].sizes(), (std::vector<int64_t>{2, 128}));
  EXPECT_TRUE(torch::equal(acts["logits"], logits));
  EXPECT_GE(acts["conv1"].min().item<float>(), 0.0f);  // after ReLU
  EXPECT_TRUE(torch::equal(net->forward(x), logits));
}

TEST(ModelShapes, ProbesFillOnlyRequestedAndRejectUnknown) {
  auto s = resnet_spec("resnet20", 0.25);
  auto net = build_model(s, 3);
  net->train(false);
  std::vector<std::string> expected = {"stem"};
  for (int i = 1; i <= 9; ++i) expected.push_back("block" + std::to_string(i));
  expected.push_back("pool");
  expected.push_back("logits");
  EXPECT_EQ(net->probe_names(), expected);
  auto x = input_for(s, 2);
  std::map<std::string, torch::Tensor> acts;
  auto logits = net->forward_probes(x, {"block9", "stem", "pool"}, acts);
  ASSERT_EQ(acts.size(), 3u);
  EXPECT_EQ(acts["stem"].sizes(), (std::vector<int64_t>{2, 4, 32, 32}));
  EXPECT_EQ(acts["block9"].sizes(), (std::vector<int64_t>{2, 16, 8, 8}));
  EXPECT_EQ(acts["pool"].sizes(), (std::vector<int64_t>{2, 16}));
  EXPECT_TRUE(torch::allclose(acts["pool"], acts["block9"].mean({2, 3})));
  EXPECT_TRUE(torch::equal(logits, net->forward(x)));
  try {
    net->forward_probes(x, {"conv1"}, acts);
    FAIL() << "unknown probe accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("conv1"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("block1"), std::string::npos);  // lists the valid names
  }
  auto mlp = build_model(mlp_spec({32, 16}), 1);
  EXPECT_EQ(mlp->probe_names(), (std::vector<std::string>{"fc1", "fc2", "logits"}));
}

TEST(ModelShapes, WrongInputShapeIsBadInput) {
  auto s = vgg_spec();
  auto net = build_model(s, 1);
  try {
    net->forward(torch::zeros({2, 3, 32, 32}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("[2, 3, 32, 32]"), std::string::npos) << e.what();
  }
  auto mlp = build_model(mlp_spec(), 1);  // the MLP also takes flat rows
  EXPECT_EQ(mlp->forward(torch::zeros({2, 64})).sizes(), (std::vector<int64_t>{2, 10}));
}

TEST(ModelShapes, PythonStyleParameterNames) {
  auto net = build_model(vgg_spec(), 1);
  auto params = net->named_parameters();
  ASSERT_GE(params.size(), 4u);
  EXPECT_EQ(params[0].first, "features.0.weight");
  EXPECT_EQ(params[1].first, "features.0.bias");
  EXPECT_EQ(params[2].first, "features.1.weight");  // BN gamma
  EXPECT_EQ(params[4].first, "features.4.weight");  // conv2 after conv, bn, relu, pool
  EXPECT_EQ(params[params.size() - 2].first, "classifier.4.weight");
  auto bufs = net->named_buffers();
  EXPECT_EQ(bufs[0].first, "features.1.running_mean");
  EXPECT_EQ(bufs[1].first, "features.1.running_var");
  EXPECT_EQ(bufs[2].first, "features.1.num_batches_tracked");

  auto res = build_model(resnet_spec("resnet8"), 1)->named_parameters();
  std::vector<std::string> names;
  for (auto& p : res) names.push_back(p.first);
  for (std::string n : {"conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer2.0.shortcut.0.weight",
                        "layer2.0.shortcut.1.bias", "layer3.0.bn2.weight", "linear.weight", "linear.bias"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
}

// Closed-form counts: conv 9*cin*cout + cout, BN 2*cout, Linear in*out + out.
int64_t count(Network& net) {
  int64_t n = 0;
  for (auto& p : net.named_parameters()) n += p.second.numel();
  return n;
}

TEST(ModelShapes, ParameterCountsMatchClosedForm) {
  // vgg11-w16 as written in benchmarks.md: [16,M,32,M,64,64,M,128,128,M,128,128,M], 1 input channel
  const std::vector<int64_t> ch = {16, 32, 64, 64, 128, 128, 128, 128};
  int64_t expected = 0, cin = 1;
  for (int64_t c : ch) {
    expected += 9 * cin * c + c + 2 * c;
    cin = c;
  }
  expected += (128 * 128 + 128) * 2 + 128 * 10 + 10;
  auto w16 = build_model(vgg_spec(), 1);
  EXPECT_EQ(count(*w16), expected);
  auto w16_nobn = build_model(vgg_spec("vgg11", 0.25, false), 1);
  EXPECT_EQ(count(*w16_nobn), expected - 2 * (16 + 32 + 64 + 64 + 128 * 4));

  // VGG-16-BN on CIFAR with a 512-512 head: torchvision's vgg16 features hold 14,714,688
  // parameters; BN adds 2 * 4224, the head 2 * (512*512+512) + 512*10 + 10.
  auto s = vgg_spec("vgg16", 1.0, true, {512, 512});
  s.in_channels = 3;
  auto vgg16 = build_model(s, 1);
  EXPECT_EQ(count(*vgg16), 14714688 + 2 * 4224 + 2 * (512 * 512 + 512) + 5130);
  EXPECT_EQ(count(*vgg16), 15253578);
}

}  // namespace
}  // namespace closerlook

namespace closerlook {
namespace {
using namespace closerlook::testing;

// One SGD-style backward pass per family: every parameter gets a finite gradient, and the
// in-place ReLUs do not break autograd (also through forward_probes).
TEST(ModelShapes, BackwardReachesEveryParameter) {
  for (auto s : {vgg_spec(), vgg_spec("vgg11", 0.25, false, {16}), resnet_spec("resnet8", 0.5),
                 resnet_spec("resnet8", 0.5, false), mlp_spec({16, 8}, true), mlp_spec({16}, false)}) {
    auto net = build_model(s, 2);
    net->train(true);
    auto x = input_for(s, 4);
    auto y = torch::arange(4) % s.num_classes;
    std::map<std::string, torch::Tensor> acts;
    auto logits = net->forward_probes(x, net->probe_names(), acts);
    auto loss = torch::nn::functional::cross_entropy(logits, y) + 1e-3 * acts[net->probe_names()[0]].pow(2).mean();
    loss.backward();
    for (auto& p : net->named_parameters()) {
      ASSERT_TRUE(p.second.grad().defined()) << net->arch() << " " << p.first;
      EXPECT_TRUE(torch::isfinite(p.second.grad()).all().item<bool>()) << p.first;
    }
    // the head's last weight always receives gradient
    EXPECT_GT(net->named_parameters()[net->named_parameters().size() - 2].second.grad().abs().sum().item<double>(), 0);
  }
}

}  // namespace
}  // namespace closerlook
