// The evaluation engine (surface/bn_folding.h) against the plain path it replaces: folded BN and
// channels-last logits equal Network::forward in eval mode; PointEvaluator's fast engine gives the
// plain evaluator's metrics; the control-variate / adaptive train estimate (the fast plane method).
#include <gtest/gtest.h>

#include "models/factory.h"
#include "surface/bn_folding.h"
#include "surface/point_eval.h"
#include "surface/weights.h"
#include "tiny_net.h"

using namespace closerlook;

namespace {

ModelSpec spec_of(const std::string& family, const std::string& layout, bool bn) {
  ModelSpec s;
  s.family = family;
  s.layout = layout;
  s.batchnorm = bn;
  s.width = family == "mlp" ? 1.0 : 0.25;
  s.fc_hidden = {32, 32};
  s.mlp_hidden = {48, 32};
  s.in_channels = 1;
  s.image_size = family == "vgg" ? 32 : 8;
  s.num_classes = 5;
  return s;
}

// Non-trivial BN statistics and affine parameters (a fresh network's are 0 / 1).
void scramble_bn(Network& net, uint64_t seed) {
  torch::NoGradGuard ng;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& [name, t] : net.named_parameters())
    if (t.dim() == 1) t.copy_(torch::randn(t.sizes(), gen) * 0.3 + (name.find("weight") != std::string::npos ? 1.0 : 0.0));
  for (auto& bn : net.batchnorms()) {
    bn.running_mean.copy_(torch::randn(bn.running_mean.sizes(), gen) * 0.2);
    bn.running_var.copy_(torch::rand(bn.running_var.sizes(), gen) * 2 + 0.1);
  }
}

double rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

struct Case {
  std::string family, layout;
  bool bn;
};

}  // namespace

class FoldedLogits : public ::testing::TestWithParam<Case> {};

TEST_P(FoldedLogits, EqualThePlainEvalForward) {
  const Case c = GetParam();
  const ModelSpec spec = spec_of(c.family, c.layout, c.bn);
  NetworkPtr net = build_model(spec, 3);
  scramble_bn(*net, 5);
  net->train(false);
  auto gen = at::detail::createCPUGenerator(7);
  const torch::Tensor x = torch::randn({37, 1, spec.image_size, spec.image_size}, gen);
  torch::Tensor ref;
  {
    c10::InferenceMode g;
    ref = net->forward(x);
  }
  for (bool fold : {true, false})
    for (bool cl : {true, false}) {
      auto f = FoldedNetwork::build(*net, {fold, cl});
      ASSERT_TRUE(f) << c.family;
      const torch::Tensor got = f->forward(x);
      EXPECT_LT(rel_diff(got, ref), 2e-6) << f->describe();
      EXPECT_EQ(got.argmax(1).ne(ref.argmax(1)).sum().item<int64_t>(), 0) << f->describe();
    }
  // The folded copy is a copy: new weights need refresh(), and after it the logits follow.
  auto f = FoldedNetwork::build(*net);
  auto flat = flat_parameters(*net);
  load_flat_parameters(*net, flat * 1.1);
  torch::Tensor ref2;
  {
    c10::InferenceMode g;
    ref2 = net->forward(x);
  }
  // (Without BN the plan's linear weights alias the module's, so only a folded plan is stale.)
  if (c.bn) EXPECT_GT(rel_diff(f->forward(x), ref2), 1e-3) << "a stale plan should differ";
  f->refresh();
  EXPECT_LT(rel_diff(f->forward(x), ref2), 2e-6);
}

INSTANTIATE_TEST_SUITE_P(BuiltIns, FoldedLogits,
                         ::testing::Values(Case{"vgg", "vgg11", true}, Case{"vgg", "vgg11", false},
                                           Case{"resnet", "resnet8", true}, Case{"resnet", "resnet8", false},
                                           Case{"mlp", "mlp", true}, Case{"mlp", "mlp", false}),
                         [](const auto& info) {
                           return info.param.family + (info.param.bn ? "_bn" : "_nobn");
                         });

TEST(FoldedNetwork, UnknownStructureFallsBack) {
  closerlook::testing::TinyNet tiny(3, true, 3, 1);
  EXPECT_EQ(FoldedNetwork::build(tiny), nullptr);
  DataSplit data = closerlook::testing::tiny_split(40, 20);
  EvalSettings es;
  PointEvaluator ev(tiny, data, torch::kCPU, es);
  EXPECT_FALSE(ev.uses_fast_engine());
}

namespace {
// Random images of a built-in net's input with labels from a teacher copy (so the loss varies).
DataSplit data_for(const ModelSpec& spec, int64_t ntr, int64_t nte) {
  auto gen = at::detail::createCPUGenerator(21);
  DataSplit d;
  for (auto* ds : {&d.train, &d.test}) {
    const int64_t n = ds == &d.train ? ntr : nte;
    ds->images = torch::randn({n, 1, spec.image_size, spec.image_size}, gen);
    ds->labels = torch::randint(0, spec.num_classes, {n}, gen, torch::kInt64);
    ds->num_classes = spec.num_classes;
    ds->mean = {0.0};
    ds->std = {1.0};
  }
  return d;
}
}  // namespace

class FastEvaluator : public ::testing::TestWithParam<Case> {};

// The whole evaluation of a point (BN recalibration, train and test loss/error) on the engine
// equals the plain path's: losses to 1e-5 relative, error counts equal.
TEST_P(FastEvaluator, EqualsThePlainEvaluator) {
  const Case c = GetParam();
  const ModelSpec spec = spec_of(c.family, c.layout, c.bn);
  NetworkPtr a = build_model(spec, 3), wp = build_model(spec, 4), wf = build_model(spec, 4);
  scramble_bn(*a, 6);
  DataSplit data = data_for(spec, 300, 130);
  EvalSettings plain;
  plain.fast_engine = false;
  plain.batch_size = 64;
  plain.bn_batch_size = 50;
  plain.bn_samples = 200;
  plain.weight_decay = 1e-3;
  EvalSettings fast = plain;
  fast.fast_engine = true;
  PointEvaluator evp(*wp, data, torch::kCPU, plain), evf(*wf, data, torch::kCPU, fast);
  EXPECT_FALSE(evp.uses_fast_engine());
  EXPECT_TRUE(evf.uses_fast_engine());
  for (double scale : {1.0, 0.7}) {
    const auto flat = flat_parameters(*a) * scale;
    const PointMetrics mp = evp.evaluate_flat(flat), mf = evf.evaluate_flat(flat);
    for (const auto& k : metric_keys()) {
      if (k.find("err") != std::string::npos)
        EXPECT_EQ(metric_value(mf, k), metric_value(mp, k)) << k;
      else
        EXPECT_NEAR(metric_value(mf, k), metric_value(mp, k), 1e-5 * std::fabs(metric_value(mp, k))) << k;
    }
    // The recalibrated statistics themselves (the engine's pass runs channels-last).
    auto bp = wp->batchnorms(), bf = wf->batchnorms();
    for (size_t l = 0; l < bp.size(); ++l) {
      EXPECT_LT(rel_diff(bf[l].running_mean, bp[l].running_mean), 1e-5) << bp[l].name;
      EXPECT_LT(rel_diff(bf[l].running_var, bp[l].running_var), 1e-5) << bp[l].name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BuiltIns, FastEvaluator,
                         ::testing::Values(Case{"vgg", "vgg11", true}, Case{"resnet", "resnet8", true},
                                           Case{"mlp", "mlp", true}),
                         [](const auto& info) { return info.param.family; });

// Control variates: a control equal to the cell's own per-example NLL leaves no residual, so the
// estimate from any subset is the whole set's NLL; an unrelated control changes the subset mean by
// at most its sampling error; the adaptive stop reads one chunk when the target is loose and
// the whole subset when it is tight.
TEST(FastEvaluator, ControlVariatesAndAdaptiveStop) {
  const ModelSpec spec = spec_of("mlp", "mlp", true);
  NetworkPtr a = build_model(spec, 3), w_full = build_model(spec, 4), w_sub = build_model(spec, 4);
  scramble_bn(*a, 6);
  DataSplit data = data_for(spec, 1200, 100);
  EvalSettings full;
  full.batch_size = 100;
  EvalSettings sub = full;
  sub.train_samples = 400;
  sub.train_chunk = 100;
  PointEvaluator evf(*w_full, data, torch::kCPU, full), evs(*w_sub, data, torch::kCPU, sub);
  const auto flat = flat_parameters(*a);
  const PointMetrics exact = evf.evaluate_flat(flat);
  EXPECT_EQ(exact.tr_nll_se, 0.0);
  EXPECT_EQ(exact.tr_examples, 1200);

  // The cell's own per-example NLL over the whole set (BN recalibrated on the full set: the same
  // BN for both evaluators, since bn_samples = 0).
  const torch::Tensor own = evf.per_example_nll(data.train);
  ASSERT_EQ(own.size(0), 1200);
  EXPECT_NEAR(own.mean().item<double>(), exact.tr_nll, 1e-6 * exact.tr_nll);

  const PointMetrics plain_sub = evs.evaluate_flat(flat);
  EXPECT_GT(std::fabs(plain_sub.tr_nll - exact.tr_nll), 1e-6) << "the subset mean should differ from the whole set's";
  evs.set_train_controls({own});
  const PointMetrics cv = evs.evaluate_flat(flat);
  EXPECT_NEAR(cv.tr_nll, exact.tr_nll, 1e-7 * exact.tr_nll);  // float32 batch sums vs float64 per example
  EXPECT_LT(cv.tr_nll_se, 1e-9);
  EXPECT_EQ(cv.tr_examples, 400);

  // A control of noise: the estimate stays within a few standard errors of the whole set's NLL.
  auto gen = at::detail::createCPUGenerator(3);
  evs.set_train_controls({torch::randn({1200}, gen, torch::kFloat64)});
  const PointMetrics noisy = evs.evaluate_flat(flat);
  EXPECT_GT(noisy.tr_nll_se, 1e-4);
  EXPECT_LT(std::fabs(noisy.tr_nll - exact.tr_nll), 5 * noisy.tr_nll_se);

  evs.set_train_controls({});
  EvalSettings loose = sub, tight = sub;
  loose.train_rel_se = 0.5;
  tight.train_rel_se = 1e-9;
  NetworkPtr w1 = build_model(spec, 4), w2 = build_model(spec, 4);
  PointEvaluator evl(*w1, data, torch::kCPU, loose), evt(*w2, data, torch::kCPU, tight);
  const PointMetrics ml = evl.evaluate_flat(flat), mt = evt.evaluate_flat(flat);
  EXPECT_EQ(ml.tr_examples, 100);
  EXPECT_EQ(mt.tr_examples, 400);
  EXPECT_NEAR(mt.tr_nll, plain_sub.tr_nll, 1e-7 * plain_sub.tr_nll);
  EXPECT_GT(ml.tr_nll_se, mt.tr_nll_se);
}

// eval.precision = bf16: the loss passes under autocast. The values move by bf16's rounding
// (~2^-8 relative per product, far less after the sums) and not more; BN statistics are
// recomputed in float32 either way; the setting is recorded (it changes the values) only when set.
TEST(EvalPrecision, Bf16PassesStayCloseToFloat32AndAreRecorded) {
  for (bool engine : {true, false}) {
    const ModelSpec spec = spec_of("vgg", "vgg11", true);
    NetworkPtr a = build_model(spec, 3), w32 = build_model(spec, 4), w16 = build_model(spec, 4);
    scramble_bn(*a, 6);
    DataSplit data = data_for(spec, 300, 130);
    EvalSettings f32;
    f32.fast_engine = engine;
    f32.batch_size = 64;
    f32.bn_samples = 200;
    EvalSettings b16 = f32;
    b16.precision = "bf16";
    EXPECT_FALSE(f32.to_json().contains("precision"));
    EXPECT_EQ(b16.to_json().value("precision", ""), "bf16");
    PointEvaluator e32(*w32, data, torch::kCPU, f32), e16(*w16, data, torch::kCPU, b16);
    const auto flat = flat_parameters(*a);
    const PointMetrics m32 = e32.evaluate_flat(flat), m16 = e16.evaluate_flat(flat);
    for (const char* k : {"tr_nll", "te_nll"}) {
      const double x = metric_value(m32, k), y = metric_value(m16, k);
      EXPECT_NE(x, y) << k << ": bf16 gave float32's value exactly (autocast did not run)";
      EXPECT_NEAR(y, x, 2e-2 * std::fabs(x)) << k << " engine " << engine;
    }
    EXPECT_NEAR(metric_value(m16, "te_err"), metric_value(m32, "te_err"), 0.05) << "engine " << engine;
    auto b32 = w32->batchnorms(), bb = w16->batchnorms();
    for (size_t l = 0; l < b32.size(); ++l) EXPECT_TRUE(torch::equal(bb[l].running_var, b32[l].running_var)) << b32[l].name;
  }
}
