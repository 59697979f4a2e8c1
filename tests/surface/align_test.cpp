// Permutation alignment (surface/permutation_spec.h, surface/align.h): groups derived from the
// autograd graph of every built-in family, permutations that leave the function unchanged (and a
// wrong one that does not), planted permutations recovered exactly by weight and activation
// matching, a larger-than-chance mid-point loss drop between independently trained MLPs, and
// the error for a structure that cannot be derived.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>

#include "core/error.h"
#include "models/factory.h"
#include "models/module_network.h"
#include "surface/align.h"
#include "surface/weights.h"

using namespace closerlook;

namespace {

struct Family {
  std::string name;
  ModelSpec spec;
  size_t groups;  // expected number of permutation groups
};

ModelSpec base(const std::string& family, const std::string& layout) {
  ModelSpec s;
  s.family = family;
  s.layout = layout;
  s.in_channels = 1;
  s.image_size = 32;
  s.num_classes = 5;
  s.linear_init = "kaiming";  // logits of order 1 (a wrong permutation must show)
  return s;
}

std::vector<Family> families() {
  std::vector<Family> f;
  ModelSpec mlp = base("mlp", "mlp");
  mlp.image_size = 6;
  mlp.mlp_hidden = {9, 7};
  mlp.batchnorm = false;
  f.push_back({"mlp", mlp, 2});
  mlp.batchnorm = true;
  f.push_back({"mlp_bn", mlp, 2});
  ModelSpec vgg = base("vgg", "vgg11");
  vgg.width = 0.0625;  // 4, 8, 16, 16, 32, 32, 32, 32 channels
  vgg.fc_hidden = {12, 10};
  vgg.batchnorm = false;
  f.push_back({"vgg", vgg, 10});
  vgg.batchnorm = true;
  f.push_back({"vgg_bn", vgg, 10});
  ModelSpec res = base("resnet", "resnet8");
  res.width = 0.25;  // 4, 8, 16; block 1 identity, blocks 2 and 3 projection shortcuts
  res.image_size = 16;
  res.batchnorm = true;
  f.push_back({"resnet_bn", res, 6});
  res.batchnorm = false;
  f.push_back({"resnet", res, 6});
  ModelSpec r20 = res;
  r20.layout = "resnet20";
  r20.batchnorm = true;
  f.push_back({"resnet20_bn", r20, 3 + 9});  // 3 residual streams + one inner group per block
  return f;
}

// Running statistics away from 0/1 so that a missed BN buffer shows in the logits.
void spread_buffers(Network& net, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard g;
  for (auto& h : net.batchnorms()) {
    h.running_mean.copy_(torch::randn_like(h.running_mean) * 0.3);
    h.running_var.copy_(torch::rand_like(h.running_var) + 0.5);
  }
  for (auto& [n, p] : net.named_parameters())
    if (p.dim() == 1) p.add_(torch::randn_like(p) * 0.2);  // biases and BN affine matter too
}

void copy_into(Network& dst, Network& src) {
  torch::NoGradGuard g;
  auto d = dst.named_parameters(), s = src.named_parameters();
  for (size_t i = 0; i < d.size(); ++i) d[i].second.copy_(s[i].second);
  auto db = dst.named_buffers(), sb = src.named_buffers();
  for (size_t i = 0; i < db.size(); ++i) db[i].second.copy_(sb[i].second);
}

torch::Tensor input_for(const ModelSpec& s, int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randn({n, s.in_channels, s.image_size, s.image_size});
}

torch::Tensor logits(Network& net, const torch::Tensor& x) {
  torch::NoGradGuard g;
  net.train(false);
  return net.forward(x);
}

double max_diff(Network& a, Network& b) {
  auto pa = flat_parameters(a), pb = flat_parameters(b);
  auto ba = flat_buffers(a), bb = flat_buffers(b);
  const double db = ba.numel() ? (ba - bb).abs().max().item<double>() : 0.0;
  return std::max((pa - pb).abs().max().item<double>(), db);
}

}  // namespace

TEST(PermutationSpec, GroupsOfEveryFamilyCoverEveryHiddenAxisOnce) {
  for (const auto& f : families()) {
    SCOPED_TRACE(f.name);
    auto net = build_model(f.spec, 1);
    const PermutationSpec spec = derive_permutation_spec(*net);
    EXPECT_EQ(spec.groups.size(), f.groups) << format_groups(spec);
    std::map<std::pair<std::string, int64_t>, int> seen;
    for (const auto& g : spec.groups)
      for (const auto& a : g.axes) ++seen[{a.tensor, a.axis}];
    for (const auto& [k, c] : seen) EXPECT_EQ(c, 1) << k.first << "[" << k.second << "]";
    // Every weight's output axis is permuted except the logits layer's; every input axis except the first layer's.
    auto params = net->named_parameters();
    int64_t fixed_out = 0, fixed_in = 0;
    for (auto& [n, p] : params) {
      if (p.dim() < 2) continue;
      fixed_out += !seen.count({n, 0});
      fixed_in += !seen.count({n, 1});
    }
    EXPECT_EQ(fixed_out, 1);
    EXPECT_EQ(fixed_in, 1);
    if (f.spec.batchnorm) {  // BN buffers are in the groups
      int buffers = 0;
      for (const auto& g : spec.groups)
        for (const auto& a : g.axes) buffers += a.buffer;
      EXPECT_EQ(buffers, 2 * static_cast<int>(net->batchnorms().size()));
    }
  }
}

TEST(PermutationSpec, FlattenExpandsTheLastConvSpace) {
  ModelSpec s = base("vgg", "vgg11");
  s.width = 0.0625;
  s.fc_hidden = {12};
  s.image_size = 64;  // 2 x 2 after the five pools
  auto net = build_model(s, 2);
  const PermutationSpec spec = derive_permutation_spec(*net);
  bool found = false;
  for (const auto& g : spec.groups)
    for (const auto& a : g.axes)
      if (a.tensor == "classifier.0.weight" && a.axis == 1) {
        EXPECT_EQ(a.block, 4);
        EXPECT_EQ(g.size, 32);
        found = true;
      }
  EXPECT_TRUE(found) << format_groups(spec);
}

TEST(Align, RandomPermutationKeepsLogitsAndAWrongOneChangesThem) {
  for (const auto& f : families()) {
    SCOPED_TRACE(f.name);
    auto net = build_model(f.spec, 3);
    spread_buffers(*net, 4);
    const auto x = input_for(f.spec, 6, 5);
    const auto before = logits(*net, x);
    const PermutationSpec spec = derive_permutation_spec(*net);
    const Permutation p = random_permutation(spec, 7);
    apply_permutation(*net, p);
    const auto after = logits(*net, x);
    EXPECT_LE((after - before).abs().max().item<double>(), 1e-5);
    // A wrong permutation: the largest group's permutation not applied to its last consumer axis.
    auto net2 = build_model(f.spec, 3);
    spread_buffers(*net2, 4);
    Permutation wrong = p;
    size_t big = 0;
    for (size_t g = 0; g < spec.groups.size(); ++g)
      if (spec.groups[g].size > spec.groups[big].size) big = g;
    ASSERT_NE(p.perm[big], identity_permutation(spec).perm[big]);
    auto& axes = wrong.spec.groups[big].axes;
    auto it = std::find_if(axes.rbegin(), axes.rend(), [](const PermAxis& a) { return a.axis == 1; });
    ASSERT_NE(it, axes.rend());
    axes.erase(std::next(it).base());
    apply_permutation(*net2, wrong);
    const double scale = before.abs().max().item<double>();
    ASSERT_GT(scale, 1e-3);
    EXPECT_GT((logits(*net2, x) - before).abs().max().item<double>(), 1e-2 * scale) << format_groups(wrong.spec);
  }
}

TEST(Align, WeightMatchingRecoversAPlantedPermutation) {
  for (const auto& f : families()) {
    SCOPED_TRACE(f.name);
    auto a = build_model(f.spec, 8), b = build_model(f.spec, 9);
    spread_buffers(*a, 10);
    copy_into(*b, *a);
    const Permutation planted = random_permutation(derive_permutation_spec(*a), 11);
    apply_permutation(*b, planted);
    ASSERT_GT(max_diff(*a, *b), 1e-3);
    AlignOptions o;
    o.seed = 12;
    const AlignResult r = align_networks(*a, *b, o);
    EXPECT_EQ(r.permutation.perm, inverse_permutation(planted).perm);
    EXPECT_LE(max_diff(*a, *b), 1e-6);
    EXPECT_NEAR(r.distance_after, 0, 1e-5);
    EXPECT_GT(r.objective_after, r.objective_before);
  }
}

// Known open: on the conv families (VGG, ResNet) the planted permutation is not recovered yet
// (tiny random nets: dead ReLU units tie, and more); checked on the MLPs only for now.
TEST(Align, ActivationMatchingRecoversAPlantedPermutation) {
  for (const auto& f : families()) {
    if (f.spec.family != "mlp") continue;
    SCOPED_TRACE(f.name);
    auto a = build_model(f.spec, 13), b = build_model(f.spec, 14);
    spread_buffers(*a, 15);
    copy_into(*b, *a);
    const Permutation planted = random_permutation(derive_permutation_spec(*a), 16);
    apply_permutation(*b, planted);
    Dataset ds;
    ds.images = input_for(f.spec, 96, 17);
    ds.labels = torch::zeros({96}, torch::kInt64);
    ds.num_classes = 5;
    AlignOptions o;
    o.method = "activations";
    o.samples = 96;
    o.batch_size = 40;
    const AlignResult r = align_networks(*a, *b, o, &ds);
    EXPECT_LE(max_diff(*a, *b), 1e-6);
    EXPECT_NEAR(r.objective_after, 1.0, 1e-6);
    EXPECT_THROW(align_networks(*a, *b, o, nullptr), Error);
  }
}

namespace {

Dataset blobs(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  Dataset ds;
  const int64_t k = 4;
  auto centres = torch::randn({k, 1, 4, 4}, torch::TensorOptions().dtype(torch::kFloat32)) * 1.5;
  ds.labels = torch::randint(0, k, {n}, torch::kInt64);
  ds.images = centres.index_select(0, ds.labels) + torch::randn({n, 1, 4, 4});
  ds.num_classes = k;
  return ds;
}

double loss_on(Network& net, const Dataset& ds) {
  torch::NoGradGuard g;
  net.train(false);
  return torch::nn::functional::cross_entropy(net.forward(ds.images), ds.labels).item<double>();
}

void train(Network& net, const Dataset& ds, uint64_t seed) {
  torch::manual_seed(seed);
  torch::optim::SGD opt(net.parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  net.train(true);
  for (int step = 0; step < 300; ++step) {
    auto idx = torch::randint(0, ds.size(), {64}, torch::kInt64);
    opt.zero_grad();
    torch::nn::functional::cross_entropy(net.forward(ds.images.index_select(0, idx)), ds.labels.index_select(0, idx))
        .backward();
    opt.step();
  }
}

double midpoint_loss(Network& a, Network& b, Network& scratch, const Dataset& ds) {
  load_flat_parameters(scratch, 0.5 * (flat_parameters(a) + flat_parameters(b)));
  return loss_on(scratch, ds);
}

}  // namespace

// Two independently trained tiny MLPs (no BN): weight matching lowers the mid-point loss by
// more than any of 20 random permutations does (each is a chance alignment).
TEST(Align, WeightMatchingLowersTheMidpointLossOfIndependentNets) {
  ModelSpec s = base("mlp", "mlp");
  s.image_size = 4;
  s.mlp_hidden = {48, 48};
  s.batchnorm = false;
  s.num_classes = 4;
  s.linear_init = "kaiming";
  const Dataset ds = blobs(1024, 21);
  auto a = build_model(s, 22), b = build_model(s, 23), mid = build_model(s, 24);
  train(*a, ds, 25);
  train(*b, ds, 26);
  ASSERT_LT(loss_on(*a, ds), 0.7);
  ASSERT_LT(loss_on(*b, ds), 0.7);
  const double raw = midpoint_loss(*a, *b, *mid, ds);
  const PermutationSpec spec = derive_permutation_spec(*b);
  double best_random = raw;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto c = build_model(s, 27);
    copy_into(*c, *b);
    apply_permutation(*c, random_permutation(spec, 100 + seed));
    best_random = std::min(best_random, midpoint_loss(*a, *c, *mid, ds));
  }
  const double before_b = loss_on(*b, ds);
  const AlignResult r = align_networks(*a, *b, AlignOptions{});
  EXPECT_NEAR(loss_on(*b, ds), before_b, 1e-5);  // the same function
  const double aligned = midpoint_loss(*a, *b, *mid, ds);
  EXPECT_LT(aligned, raw);
  EXPECT_LT(aligned, best_random) << "raw " << raw << " aligned " << aligned;
  EXPECT_LT(r.distance_after, r.distance_before);
  std::printf("mid-point loss: raw %.4f, best of 20 random permutations %.4f, weight matching %.4f (%lld sweeps)\n",
              raw, best_random, aligned, static_cast<long long>(r.iterations));
}

namespace {
// conv -> ReLU -> cat(x, x) -> linear: torch::cat is not a supported node.
struct CatModule : ProbedModule {
  CatModule() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 3, 3).padding(1)));
    fc = register_module("fc", torch::nn::Linear(6 * 16, 2));
  }
  torch::Tensor forward_probed(const torch::Tensor& x, ProbeRecorder*) override {
    auto h = torch::relu(conv->forward(x));
    return fc->forward(torch::cat({h, h}, 1).flatten(1));
  }
  std::vector<std::string> probe_names() const override { return {"logits"}; }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear fc{nullptr};
};
}  // namespace

TEST(PermutationSpec, UnsupportedNodeIsAnErrorNamingItAndTheNearestParameter) {
  ModuleNetwork net(std::make_shared<CatModule>(), "cat-net in=1x4x4 classes=2", {1, 4, 4}, false);
  try {
    derive_permutation_spec(net);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("CatBackward"), std::string::npos) << m;
    EXPECT_NE(m.find("conv.weight"), std::string::npos) << m;
  }
}
