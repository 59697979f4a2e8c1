// The one tiny Network of the tests (surface, train, dist) and its synthetic data:
//   conv(1->C, 3x3, pad 1) [-> BatchNorm2d] -> ReLU -> adaptive average pool to P x P
//   [-> Dropout] -> linear(C*P*P -> K)
// registered as features_conv / features_bn / drop / classifier. The defaults (C = 3, BN, P = 2,
// no dropout, BN affine parameters drawn away from 1/0 so that they matter as coordinates) suit the
// surface tests on 1 x 6 x 6 images; trainer_net() gives the training tests' variant (C = 4, P = 4,
// dropout, on 1 x 8 x 8 images). Small enough that every test runs in well under a second per point.
#pragma once
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/atomic_file.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "models/network.h"
#include "train/trainer.h"

namespace closerlook::testing {

struct TinyNetOptions {
  int64_t channels = 3;
  bool batchnorm = true;
  int64_t classes = 3;
  uint64_t seed = 0;               // torch::manual_seed before the modules are built
  int64_t pool = 2;                // the head sees C x pool x pool features
  std::optional<double> dropout;   // a Dropout before the head when set
  bool spread_bn_affine = true;    // BN weight ~ U(0.5, 1.5), bias ~ U(-0.2, 0.2) after construction
};

// The training tests' net: 4 channels, BN (default affine), 4x4 pool, dropout.
inline TinyNetOptions trainer_net(uint64_t seed, int64_t classes = 3, double dropout = 0.2) {
  TinyNetOptions o;
  o.channels = 4;
  o.classes = classes;
  o.seed = seed;
  o.pool = 4;
  o.dropout = dropout;
  o.spread_bn_affine = false;
  return o;
}

struct TinyModule : torch::nn::Module {
  explicit TinyModule(const TinyNetOptions& o) : pool(o.pool) {
    conv = register_module("features_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, o.channels, 3).padding(1)));
    if (o.batchnorm) bn = register_module("features_bn", torch::nn::BatchNorm2d(o.channels));
    if (o.dropout) drop = register_module("drop", torch::nn::Dropout(*o.dropout));
    fc = register_module("classifier", torch::nn::Linear(o.channels * o.pool * o.pool, o.classes));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = conv->forward(x);
    if (bn) h = bn->forward(h);
    h = torch::relu(h);
    h = torch::adaptive_avg_pool2d(h, {pool, pool}).flatten(1);
    if (drop) h = drop->forward(h);
    return fc->forward(h);
  }
  int64_t pool;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Dropout drop{nullptr};
  torch::nn::Linear fc{nullptr};
};

class TinyNet : public Network {
 public:
  // The two shorthands the tests use: the surface variant (four arguments) and the trainer's.
  TinyNet(int64_t channels, bool batchnorm, int64_t classes, uint64_t seed)
      : TinyNet(TinyNetOptions{.channels = channels, .batchnorm = batchnorm, .classes = classes, .seed = seed}) {}
  explicit TinyNet(uint64_t seed, int64_t classes = 3, double dropout = 0.2)
      : TinyNet(trainer_net(seed, classes, dropout)) {}
  explicit TinyNet(const TinyNetOptions& o = {}) : opts_(o) {
    torch::manual_seed(o.seed);
    m_ = std::make_shared<TinyModule>(o);
    if (o.batchnorm && o.spread_bn_affine) {
      torch::NoGradGuard ng;
      m_->bn->weight.uniform_(0.5, 1.5);
      m_->bn->bias.uniform_(-0.2, 0.2);
    }
  }
  std::string arch() const override {
    return "tiny c=" + std::to_string(opts_.channels) + " bn=" + std::to_string(opts_.batchnorm) +
           " k=" + std::to_string(opts_.classes) + " p=" + std::to_string(opts_.pool) +
           " drop=" + (opts_.dropout ? std::to_string(*opts_.dropout) : std::string("none"));
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
    if (!m_->bn) return {};
    auto bn = m_->bn;
    BatchNormHandle h;
    h.name = "features_bn";
    h.running_mean = bn->running_mean;
    h.running_var = bn->running_var;
    h.set_momentum = [bn](double m) mutable { bn->options.momentum(m); };
    h.get_momentum = [bn]() { return bn->options.momentum().value(); };
    return {h};
  }
  void train(bool on = true) override { m_->train(on); }
  bool is_training() const override { return m_->is_training(); }
  void to(torch::Device device) override { m_->to(device); }
  void save(const std::string& path) override {
    write_atomic_with(path, [&](const std::string& tmp) { torch::save(m_, tmp); });
  }
  void load(const std::string& path) override { torch::load(m_, path); }
  TinyModule& module() { return *m_; }

 private:
  TinyNetOptions opts_;
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
