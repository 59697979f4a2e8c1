// Activation capture with a tiny Network implemented here (independent of the models layer).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <unistd.h>

#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "similarity/activations.h"

using namespace closerlook;

namespace {

// conv(1->3, 3x3, pad 1) + ReLU  [probe "conv"]  -> avgpool 2 -> flatten -> fc(27->4) [probe "fc"]
// -> fc(4->2) [probe "logits"].
class TinyNet : public Network {
 public:
  TinyNet() {
    torch::manual_seed(0);
    conv_ = torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 3, 3).padding(1));
    fc_ = torch::nn::Linear(27, 4);
    out_ = torch::nn::Linear(4, 2);
  }
  std::string arch() const override { return "tiny"; }
  torch::Tensor forward(const torch::Tensor& x) override {
    std::map<std::string, torch::Tensor> acts;
    return forward_probes(x, {}, acts);
  }
  torch::Tensor forward_probes(const torch::Tensor& x, const std::vector<std::string>& probes,
                               std::map<std::string, torch::Tensor>& acts) override {
    saw_training_ = saw_training_ || training_;
    auto want = [&](const std::string& p) { return std::find(probes.begin(), probes.end(), p) != probes.end(); };
    auto c = torch::relu(conv_->forward(x));
    if (want("conv")) acts["conv"] = c;
    auto f = fc_->forward(torch::avg_pool2d(c, 2).flatten(1));
    if (want("fc")) acts["fc"] = f;
    auto logits = out_->forward(torch::relu(f));
    if (want("logits")) acts["logits"] = logits;
    return logits;
  }
  std::vector<std::string> probe_names() const override { return {"conv", "fc", "logits"}; }
  std::vector<NamedTensor> named_parameters() override { return {}; }
  std::vector<NamedTensor> named_buffers() override { return {}; }
  std::vector<BatchNormHandle> batchnorms() override { return {}; }
  void train(bool on) override { training_ = on; }
  bool is_training() const override { return training_; }
  void to(torch::Device) override {}
  void save(const std::string&) override {}
  void load(const std::string&) override {}

  torch::nn::Conv2d conv_{nullptr};
  torch::nn::Linear fc_{nullptr}, out_{nullptr};
  bool training_ = true, saw_training_ = false;
};

Dataset tiny_data(int64_t n) {
  torch::manual_seed(1);
  Dataset d;
  d.name = "synthetic/train";
  d.images = torch::randn({n, 1, 6, 6});
  d.labels = torch::zeros({n}, torch::kLong);
  d.num_classes = 2;
  return d;
}

}  // namespace

TEST(ReduceActivation, ConvModes) {
  auto raw = torch::arange(2 * 3 * 4 * 4, torch::kFloat32).view({2, 3, 4, 4});
  EXPECT_TRUE(torch::allclose(reduce_activation(raw, ConvMode::Gap), raw.mean({2, 3})));
  EXPECT_EQ(reduce_activation(raw, ConvMode::Flatten).sizes(), (std::vector<int64_t>{2, 48}));
  auto sp = reduce_activation(raw, ConvMode::Spatial);
  ASSERT_EQ(sp.sizes(), (std::vector<int64_t>{32, 3}));
  // Row (example 1, h 2, w 3) holds the 3 channels at that position.
  EXPECT_TRUE(torch::equal(sp[1 * 16 + 2 * 4 + 3], raw.index({1, torch::indexing::Slice(), 2, 3})));
  auto sub = reduce_activation(raw, ConvMode::Spatial, 2);
  ASSERT_EQ(sub.sizes(), (std::vector<int64_t>{8, 3}));
  EXPECT_TRUE(torch::equal(sub[4 + 3], raw.index({1, torch::indexing::Slice(), 2, 2})));
  auto fc = torch::randn({5, 7});
  EXPECT_TRUE(torch::equal(reduce_activation(fc, ConvMode::Spatial), fc));
  EXPECT_THROW(reduce_activation(raw, ConvMode::Spatial, 0), Error);
  EXPECT_THROW(parse_conv_mode("pool"), Error);
}

TEST(CaptureActivations, EveryProbeInEvalModeIndependentOfBatch) {
  TinyNet net;
  auto data = tiny_data(12);
  CaptureOptions o;
  o.examples = 10;
  o.batch = 3;
  o.conv_mode = ConvMode::Spatial;
  net.train(true);
  auto acts = capture_activations(net, data, o);
  EXPECT_TRUE(net.is_training());     // restored
  EXPECT_FALSE(net.saw_training_);    // captured in eval mode
  ASSERT_EQ(acts.layers.size(), 3u);
  EXPECT_EQ(acts.layers[0].first, "conv");
  EXPECT_EQ(acts.layers[0].second.sizes(), (std::vector<int64_t>{10 * 36, 3}));
  EXPECT_EQ(acts.layers[1].second.sizes(), (std::vector<int64_t>{10, 4}));
  EXPECT_EQ(acts.layers[0].second.scalar_type(), torch::kFloat32);
  EXPECT_EQ(acts.meta["conv_mode"], "spatial");
  EXPECT_EQ(acts.meta["layers"][0]["raw_shape"], (std::vector<int64_t>{3, 6, 6}));
  // Against one direct forward pass over the first 10 examples.
  std::map<std::string, torch::Tensor> ref;
  {
    torch::NoGradGuard g;
    net.forward_probes(data.images.slice(0, 0, 10), {"conv", "fc"}, ref);
  }
  EXPECT_TRUE(torch::allclose(acts.layers[0].second, reduce_activation(ref["conv"], ConvMode::Spatial), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(acts.layers[1].second, ref["fc"], 1e-6, 1e-6));
  o.batch = 10;
  o.conv_mode = ConvMode::Gap;
  o.probes = {"conv"};
  auto gap = capture_activations(net, data, o);
  ASSERT_EQ(gap.layers.size(), 1u);
  EXPECT_TRUE(torch::allclose(gap.layers[0].second, ref["conv"].mean({2, 3}), 1e-6, 1e-6));
}

TEST(CaptureActivations, BadRequestsAreErrors) {
  TinyNet net;
  auto data = tiny_data(5);
  CaptureOptions o;
  o.examples = 6;
  EXPECT_THROW(capture_activations(net, data, o), Error);
  o.examples = 5;
  o.probes = {"nope"};
  EXPECT_THROW(capture_activations(net, data, o), Error);
}

TEST(CaptureActivations, SaveLoadRoundTrip) {
  TinyNet net;
  auto data = tiny_data(8);
  CaptureOptions o;
  o.examples = 8;
  o.conv_mode = ConvMode::Flatten;
  auto acts = capture_activations(net, data, o);
  acts.meta["source"] = {{"checkpoint", "runs/x/checkpoints/final.pt"}};
  const auto dir = (std::filesystem::temp_directory_path() / ("cl_sim_acts_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  save_activations(dir, acts);
  EXPECT_TRUE(is_activation_dir(dir));
  auto back = load_activations(dir);
  ASSERT_EQ(back.layers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back.layers[i].first, acts.layers[i].first);
    EXPECT_TRUE(torch::equal(back.layers[i].second, acts.layers[i].second));
  }
  EXPECT_EQ(back.meta["conv_mode"], "flatten");
  EXPECT_EQ(back.meta["source"]["checkpoint"], "runs/x/checkpoints/final.pt");
  EXPECT_EQ(read_npy(dir + "/00_conv.npy").sizes(), (std::vector<int64_t>{8, 108}));
  // A 3-D array where a matrix is expected is a clear error naming the file.
  write_npy(dir + "/01_fc.npy", torch::zeros({8, 2, 2}));
  try {
    load_activations(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("01_fc.npy"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_activation_npy(dir + "/01_fc.npy"), Error);
  write_npy(dir + "/int.npy", torch::zeros({3, 2}, torch::kInt32));
  EXPECT_THROW(read_activation_npy(dir + "/int.npy"), Error);
  EXPECT_EQ(read_activation_npy(dir + "/00_conv.npy", true).sizes(), (std::vector<int64_t>{108, 8}));
  std::filesystem::remove_all(dir);
}
