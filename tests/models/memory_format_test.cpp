// Network::set_memory_format: the channels-last path (opt-in: --memory-format) is an execution
// choice only. Against the contiguous (NCHW) path on the same weights: equal logical parameters,
// logits and probe activations to float rounding, the same training trajectory over SGD steps,
// checkpoints that load across layouts, optimizer references that survive the conversion.
#include <gtest/gtest.h>

#include <map>

#include "core/error.h"
#include "core/runtime.h"
#include "model_test_util.h"

namespace closerlook {
namespace {
using namespace closerlook::testing;

NetworkPtr build_in(const ModelSpec& s, at::MemoryFormat f, uint64_t seed = 3) {
  auto net = build_model(s, seed);
  net->set_memory_format(f);
  return net;
}

double max_rel(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item<double>();
}

bool conv_weights_in(Network& net, at::MemoryFormat f) {
  bool any = false;
  for (auto& [name, p] : net.named_parameters())
    if (p.dim() == 4 && p.size(1) > 1) {  // a 1-channel weight is contiguous in both layouts
      any = true;
      if (!p.is_contiguous(f)) return false;
    }
  return any;
}

// Sets the process-wide default for one test and puts it back.
struct DefaultFormat {
  explicit DefaultFormat(at::MemoryFormat f) : saved(default_memory_format()) { set_default_memory_format(f); }
  ~DefaultFormat() { set_default_memory_format(saved); }
  at::MemoryFormat saved;
};

TEST(MemoryFormat, BuildModelFollowsTheDefaultAndKeepsLogicalWeights) {
  EXPECT_EQ(default_memory_format(), at::MemoryFormat::Contiguous) << "contiguous unless asked (the kernel bug)";
  DefaultFormat cl_default(at::MemoryFormat::ChannelsLast);
  for (auto s : {vgg_spec(), vgg_spec("vgg11", 0.5, false)}) {
    auto cl = build_model(s, 5);
    auto plain = build_in(s, at::MemoryFormat::Contiguous, 5);
    EXPECT_EQ(cl->memory_format(), at::MemoryFormat::ChannelsLast) << cl->arch();
    EXPECT_EQ(plain->memory_format(), at::MemoryFormat::Contiguous);
    EXPECT_TRUE(conv_weights_in(*cl, at::MemoryFormat::ChannelsLast)) << cl->arch();
    EXPECT_TRUE(conv_weights_in(*plain, at::MemoryFormat::Contiguous)) << cl->arch();
    auto pa = cl->named_parameters(), pb = plain->named_parameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i].second, pb[i].second)) << pa[i].first;
  }
  // The MLP has no 4-D weights: nothing to convert, and it says so.
  auto mlp = build_model(mlp_spec(), 1);
  EXPECT_EQ(mlp->memory_format(), at::MemoryFormat::Contiguous);
}

TEST(MemoryFormat, LogitsAndProbesMatchTheContiguousPath) {
  for (auto s : {vgg_spec(), vgg_spec("vgg11", 0.25, false)}) {
    auto cl = build_in(s, at::MemoryFormat::ChannelsLast);
    auto plain = build_in(s, at::MemoryFormat::Contiguous);
    for (bool training : {true, false}) {
      cl->train(training);
      plain->train(training);
      const auto x = input_for(s, 16);
      std::map<std::string, torch::Tensor> acl, aplain;
      const auto probes = cl->probe_names();
      const auto ycl = cl->forward_probes(x, probes, acl);
      const auto yplain = plain->forward_probes(x, probes, aplain);
      EXPECT_LT(max_rel(ycl, yplain), 1e-5) << cl->arch() << " train=" << training;
      for (const auto& p : probes) {
        ASSERT_TRUE(acl.count(p) && aplain.count(p)) << p;
        EXPECT_EQ(acl[p].sizes(), aplain[p].sizes()) << p;
        EXPECT_LT(max_rel(acl[p], aplain[p]), 1e-5) << cl->arch() << " probe " << p;
        // What callers get reshapes like any tensor (flatten per example: the similarity layer).
        EXPECT_LT(max_rel(acl[p].reshape({16, -1}), aplain[p].reshape({16, -1})), 1e-5) << p;
      }
      // The input may arrive in either layout (eval mode: a train-mode pass would move BN's stats).
      if (!training) EXPECT_LT(max_rel(cl->forward(x.contiguous(at::MemoryFormat::ChannelsLast)), yplain), 1e-5);
    }
  }
}

// Every parameter's gradient of one train-mode cross-entropy on a fixed batch, by name.
std::map<std::string, torch::Tensor> gradients_of(Network& net, const ModelSpec& s) {
  net.train(true);
  auto gen = at::detail::createCPUGenerator(11);
  const auto x = at::randn({32, s.in_channels, s.image_size, s.image_size}, gen);
  const auto y = at::randint(0, s.num_classes, {32}, gen);
  torch::nn::functional::cross_entropy(net.forward(x), y).backward();
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, p] : net.named_parameters()) out[name] = p.grad().clone();
  return out;
}

TEST(MemoryFormat, GradientsMatchTheContiguousPath) {
  // Train-mode BatchNorm divides by batch statistics, so float32 rounding is amplified and two
  // correct summation orders differ by up to ~1e-3 here. The yardstick is therefore measured, not
  // assumed: the contiguous gradients at 1 thread vs 2 threads (oneDNN/ATen split the sums by
  // thread). Channels-last must stay within 10x that floor (+1e-5): a wrong kernel is off by ~1.
  // Conv biases in front of BatchNorm are skipped: their true gradient is 0, what is left is noise.
  const int threads = at::get_num_threads();
  for (auto s : {vgg_spec(), vgg_spec("vgg11", 0.25, false)}) {
    auto cl = build_in(s, at::MemoryFormat::ChannelsLast);
    ASSERT_EQ(cl->memory_format(), at::MemoryFormat::ChannelsLast) << cl->arch();
    const auto gcl = gradients_of(*cl, s);
    at::set_num_threads(1);
    const auto g1 = gradients_of(*build_in(s, at::MemoryFormat::Contiguous), s);
    at::set_num_threads(2);
    const auto g2 = gradients_of(*build_in(s, at::MemoryFormat::Contiguous), s);
    at::set_num_threads(threads);
    int compared = 0;
    for (auto& [name, p] : cl->named_parameters()) {
      const auto& ref = g2.at(name);
      if (ref.abs().max().item<double>() < 1e-6) continue;
      ++compared;
      const double floor = max_rel(g1.at(name), ref);
      EXPECT_LT(max_rel(gcl.at(name), ref), 10 * floor + 1e-5) << cl->arch() << " " << name << " (thread floor " << floor << ")";
      if (p.dim() == 4 && p.size(1) > 1) EXPECT_TRUE(gcl.at(name).is_contiguous(at::MemoryFormat::ChannelsLast)) << name;
    }
    EXPECT_GT(compared, int(g2.size()) / 2) << cl->arch();
  }
}

TEST(MemoryFormat, ChannelsLastIsRefusedForTheShapesOneDnnGetsWrong) {
  // ResNets' projection shortcuts are 1x1 stride-2 convolutions: on CPU (LibTorch 2.15) the
  // network stays contiguous, weights untouched. The bad shape is not run here: it can hang or
  // crash the process (bench/onednn_1x1_bug.py).
  for (double width : {0.25, 0.5}) {
    auto refused = build_in(resnet_spec("resnet8", width), at::MemoryFormat::ChannelsLast, 5);
    EXPECT_EQ(refused->memory_format(), at::MemoryFormat::Contiguous) << refused->arch();
    EXPECT_TRUE(conv_weights_in(*refused, at::MemoryFormat::Contiguous));
    auto same = build_in(resnet_spec("resnet8", width), at::MemoryFormat::Contiguous, 5);
    auto pa = refused->named_parameters(), pb = same->named_parameters();
    for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i].second, pb[i].second)) << pa[i].first;
  }
  // vgg has no 1x1 convolutions: channels-last at any width, with or without BN.
  for (auto s : {vgg_spec(), vgg_spec("vgg11", 0.25, false)})
    EXPECT_EQ(build_in(s, at::MemoryFormat::ChannelsLast)->memory_format(), at::MemoryFormat::ChannelsLast);
}

TEST(MemoryFormat, SgdStepsMatchAndKeepOptimizerReferences) {
  // Built contiguous, optimizer made, *then* converted: set_data keeps the optimizer's references,
  // so the steps move the converted network. Training on random labels is chaotic (weights of two
  // layouts drift apart like any two summation orders), so the losses are compared, step by step.
  const auto s = vgg_spec();
  auto cl = build_in(s, at::MemoryFormat::Contiguous);
  auto plain = build_in(s, at::MemoryFormat::Contiguous);
  auto start = build_in(s, at::MemoryFormat::Contiguous);
  torch::optim::SGD opt_cl(cl->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
  torch::optim::SGD opt_plain(plain->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
  cl->set_memory_format(at::MemoryFormat::ChannelsLast);
  ASSERT_TRUE(conv_weights_in(*cl, at::MemoryFormat::ChannelsLast));
  cl->train(true);
  plain->train(true);
  auto gen = at::detail::createCPUGenerator(11);
  for (int step = 0; step < 10; ++step) {
    const auto x = at::randn({32, s.in_channels, s.image_size, s.image_size}, gen);
    const auto y = at::randint(0, s.num_classes, {32}, gen);
    opt_cl.zero_grad();
    opt_plain.zero_grad();
    auto lcl = torch::nn::functional::cross_entropy(cl->forward(x), y);
    auto lplain = torch::nn::functional::cross_entropy(plain->forward(x), y);
    lcl.backward();
    lplain.backward();
    opt_cl.step();
    opt_plain.step();
    EXPECT_NEAR(lcl.item<double>(), lplain.item<double>(), 1e-4 * std::abs(lplain.item<double>())) << "step " << step;
  }
  auto pa = cl->named_parameters(), pb = plain->named_parameters(), p0 = start->named_parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    const double moved = (pb[i].second - p0[i].second).abs().max().item<double>();
    if (moved < 1e-6) continue;  // conv biases in front of BN
    const double moved_cl = (pa[i].second - p0[i].second).abs().max().item<double>();
    EXPECT_GT(moved_cl, 0.5 * moved) << pa[i].first << ": the optimizer lost its reference to the converted weight";
  }
  EXPECT_TRUE(conv_weights_in(*cl, at::MemoryFormat::ChannelsLast)) << "the optimizer step kept the layout";
}

TEST(MemoryFormat, CheckpointsLoadAcrossLayouts) {
  const auto s = vgg_spec();
  auto cl = build_in(s, at::MemoryFormat::ChannelsLast, 1);
  const std::string path = temp_path("memory_format_cl.pt");
  cl->save(path);
  auto plain = build_in(s, at::MemoryFormat::Contiguous, 2);
  plain->load(path);
  EXPECT_TRUE(conv_weights_in(*plain, at::MemoryFormat::Contiguous)) << "load copies in place, keeping the layout";
  auto pa = cl->named_parameters(), pb = plain->named_parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i].second, pb[i].second)) << pa[i].first;
  const std::string back = temp_path("memory_format_plain.pt");
  plain->save(back);
  auto cl2 = build_in(s, at::MemoryFormat::ChannelsLast, 4);
  cl2->load(back);
  EXPECT_TRUE(conv_weights_in(*cl2, at::MemoryFormat::ChannelsLast));
  cl->train(false);
  cl2->train(false);
  const auto x = input_for(s, 4);
  EXPECT_TRUE(torch::equal(cl->forward(x), cl2->forward(x)));
}

TEST(MemoryFormat, NamesAreParsedAndBadOnesNamed) {
  EXPECT_EQ(parse_memory_format("channels-last", "--memory-format"), at::MemoryFormat::ChannelsLast);
  EXPECT_EQ(parse_memory_format("contiguous", "--memory-format"), at::MemoryFormat::Contiguous);
  EXPECT_EQ(memory_format_name(at::MemoryFormat::ChannelsLast), "channels-last");
  try {
    parse_memory_format("nhwc", "--memory-format");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--memory-format 'nhwc'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace closerlook
