// A tiny Network for the surface tests: conv(1->C, 3x3) [-> BatchNorm2d] -> ReLU -> 2x2 average
// pool -> linear(4C -> K), on 1 x 6 x 6 inputs, plus a learnable synthetic dataset. Small enough
// that every test runs in well under a second per evaluated point.
#pragma once
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <memory>
#include <string>

#include "data/dataset.h"
#include "models/network.h"

namespace closerlook::testing {

struct TinyModule : torch::nn::Module {
  TinyModule(int64_t channels, bool with_bn, int64_t classes) : with_bn(with_bn) {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, channels, 3).padding(1)));
    if (with_bn) bn = register_module("bn", torch::nn::BatchNorm2d(channels));
    fc = register_module("fc", torch::nn::Linear(4 * channels, classes));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = conv->forward(x);
    if (with_bn) h = bn->forward(h);
    h = torch::relu(h);
    h = torch::adaptive_avg_pool2d(h, {2, 2}).flatten(1);
    return fc->forward(h);
  }
  bool with_bn;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Linear fc{nullptr};
};

class TinyNet : public Network {
 public:
  TinyNet(int64_t channels = 3, bool with_bn = true, int64_t classes = 3, uint64_t seed = 0)
      : channels_(channels), with_bn_(with_bn), classes_(classes) {
    torch::manual_seed(seed);
    m_ = std::make_shared<TinyModule>(channels, with_bn, classes);
    // Non-trivial BN affine parameters, so they matter as coordinates.
    if (with_bn) {
      torch::NoGradGuard ng;
      m_->bn->weight.uniform_(0.5, 1.5);
      m_->bn->bias.uniform_(-0.2, 0.2);
    }
  }
  std::string arch() const override {
    return "tiny c=" + std::to_string(channels_) + " bn=" + std::to_string(with_bn_) + " k=" + std::to_string(classes_);
  }
  torch::Tensor forward(const torch::Tensor& x) override { return m_->forward(x); }
  torch::Tensor forward_probes(const torch::Tensor& x, const std::vector<std::string>&,
                               std::map<std::string, torch::Tensor>&) override {
    return m_->forward(x);
  }
  std::vector<std::string> probe_names() const override { return {"logits"}; }
  std::vector<NamedTensor> named_parameters() override {
    std::vector<NamedTensor> out;
    for (auto& p : m_->named_parameters()) out.emplace_back(p.key(), p.value());
    return out;
  }
  std::vector<NamedTensor> named_buffers() override {
    std::vector<NamedTensor> out;
    for (auto& p : m_->named_buffers()) out.emplace_back(p.key(), p.value());
    return out;
  }
  std::vector<BatchNormHandle> batchnorms() override {
    if (!with_bn_) return {};
    auto bn = m_->bn;
    BatchNormHandle h;
    h.name = "bn";
    h.running_mean = bn->running_mean;
    h.running_var = bn->running_var;
    h.set_momentum = [bn](double m) mutable { bn->options.momentum(m); };
    h.get_momentum = [bn]() { return bn->options.momentum().value(); };
    return {h};
  }
  void train(bool on = true) override { m_->train(on); }
  bool is_training() const override { return m_->is_training(); }
  void to(torch::Device device) override { m_->to(device); }
  void save(const std::string& path) override { torch::save(m_, path); }
  void load(const std::string& path) override { torch::load(m_, path); }
  std::shared_ptr<Network> clone_architecture() const override {
    return std::make_shared<TinyNet>(channels_, with_bn_, classes_, 12345);
  }
  TinyModule& module() { return *m_; }

 private:
  int64_t channels_;
  bool with_bn_;
  int64_t classes_;
  std::shared_ptr<TinyModule> m_;
};

// n examples of 1 x 6 x 6 images in `classes` classes: a class-specific pattern plus noise.
inline Dataset tiny_dataset(int64_t n, int64_t classes, uint64_t seed, const std::string& name = "tiny") {
  auto gen = at::detail::createCPUGenerator(seed);
  auto patterns = torch::randn({classes, 1, 6, 6}, gen, torch::kFloat32);
  Dataset ds;
  ds.name = name;
  ds.labels = torch::randint(0, classes, {n}, gen, torch::kInt64);
  ds.images = (patterns.index_select(0, ds.labels) + 0.8 * torch::randn({n, 1, 6, 6}, gen, torch::kFloat32))
                  .contiguous();
  ds.num_classes = classes;
  ds.mean = {0.0};
  ds.std = {1.0};
  return ds;
}

inline DataSplit tiny_split(int64_t ntrain = 96, int64_t ntest = 48, int64_t classes = 3) {
  DataSplit s;
  s.train = tiny_dataset(ntrain, classes, 11, "tiny/train");
  s.test = tiny_dataset(ntest, classes, 11, "tiny/test");
  // Same patterns, fresh examples for the test set: re-draw with the same pattern seed.
  auto gen = at::detail::createCPUGenerator(11);
  auto patterns = torch::randn({classes, 1, 6, 6}, gen, torch::kFloat32);
  auto g2 = at::detail::createCPUGenerator(99);
  s.test.labels = torch::randint(0, classes, {ntest}, g2, torch::kInt64);
  s.test.images =
      (patterns.index_select(0, s.test.labels) + 0.8 * torch::randn({ntest, 1, 6, 6}, g2, torch::kFloat32))
          .contiguous();
  return s;
}

}  // namespace closerlook::testing
