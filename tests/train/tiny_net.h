// A tiny Network (conv + BN + dropout + linear head) and a synthetic dataset with a
// deterministic batch source, so the training engine is tested without the models/data layers.
#pragma once
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/atomic_file.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "models/network.h"
#include "train/trainer.h"

namespace closerlook::testing {

struct TinyModule : torch::nn::Module {
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Dropout drop{nullptr};
  torch::nn::Linear fc{nullptr};
  TinyModule(int64_t classes, double dropout) {
    conv = register_module("features_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)));
    bn = register_module("features_bn", torch::nn::BatchNorm2d(4));
    drop = register_module("drop", torch::nn::Dropout(dropout));
    fc = register_module("classifier", torch::nn::Linear(4 * 4 * 4, classes));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::relu(bn(conv(x)));
    h = torch::adaptive_avg_pool2d(h, {4, 4}).flatten(1);
    return fc(drop(h));
  }
};

class TinyNet : public Network {
 public:
  explicit TinyNet(uint64_t seed, int64_t classes = 3, double dropout = 0.2) : classes_(classes), dropout_(dropout) {
    torch::manual_seed(seed);
    m_ = std::make_shared<TinyModule>(classes, dropout);
  }
  std::string arch() const override { return "tiny classes=" + std::to_string(classes_); }
  torch::Tensor forward(const torch::Tensor& x) override { return m_->forward(x); }
  torch::Tensor forward_probes(const torch::Tensor& x, const std::vector<std::string>&,
                               std::map<std::string, torch::Tensor>&) override {
    return forward(x);
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
  std::vector<BatchNormHandle> batchnorms() override { return {}; }
  void train(bool on) override { m_->train(on); }
  bool is_training() const override { return m_->is_training(); }
  void to(torch::Device d) override { m_->to(d); }
  void save(const std::string& path) override {
    write_atomic_with(path, [&](const std::string& tmp) { torch::save(m_, tmp); });
  }
  void load(const std::string& path) override { torch::load(m_, path); }
  std::shared_ptr<Network> clone_architecture() const override {
    return std::make_shared<TinyNet>(0, classes_, dropout_);
  }

 private:
  int64_t classes_;
  double dropout_;
  std::shared_ptr<TinyModule> m_;
};

// Three classes, each a fixed 8x8 template plus noise.
inline Dataset synthetic_dataset(int64_t n, uint64_t seed, int64_t classes = 3) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto templates = torch::randn({classes, 1, 8, 8}, gen);
  auto gen2 = at::make_generator<at::CPUGeneratorImpl>(seed + 1000);
  Dataset d;
  d.name = "tiny";
  d.labels = torch::randint(0, classes, {n}, gen2, torch::kLong);
  d.images = templates.index_select(0, d.labels) + 0.8 * torch::randn({n, 1, 8, 8}, gen2);
  d.num_classes = classes;
  return d;
}

// Batches of a seeded permutation per epoch, plus a random sign flip "augmentation" drawn from
// its own generator (a pure function of (seed, epoch, index)).
class TinyBatches : public BatchSource {
 public:
  TinyBatches(const Dataset& ds, int64_t batch, uint64_t seed) : ds_(ds), batch_(batch), seed_(seed) {}
  int64_t num_batches() const override { return (ds_.size() + batch_ - 1) / batch_; }
  Batch batch(int64_t epoch, int64_t i) override {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed_ * 1000003 + epoch);
    auto perm = torch::randperm(ds_.size(), gen, torch::kLong);
    const int64_t s = i * batch_, b = std::min(batch_, ds_.size() - s);
    auto idx = perm.narrow(0, s, b);
    auto g2 = at::make_generator<at::CPUGeneratorImpl>(seed_ * 7919 + epoch * 131 + i);
    auto flip = torch::rand({b, 1, 1, 1}, g2) < 0.1;
    auto x = ds_.images.index_select(0, idx);
    return {torch::where(flip, -x, x), ds_.labels.index_select(0, idx)};
  }

 private:
  const Dataset& ds_;
  int64_t batch_;
  uint64_t seed_;
};

inline std::string fresh_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("cl_test_train_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p.string();
}

inline bool same_tensors(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || !torch::equal(a[i].second, b[i].second)) return false;
  return true;
}

}  // namespace closerlook::testing
