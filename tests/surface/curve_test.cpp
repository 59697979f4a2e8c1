// Curves: coefficient oracles (MC1, MC2, A.12), the LR schedule (MC6), bends on the line (MC3),
// endpoint equivalence with BN models (MC4), the chain-rule gradient with the penalty on w(t)
// (MC5), and curve training (fixed endpoints, loss decrease, exact resume).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/flat.h"
#include "core/json_io.h"
#include "surface/bn_recalibration.h"
#include "surface/curve.h"
#include "surface/curve_training.h"
#include "surface/path_eval.h"
#include "surface/point_eval.h"
#include "surface/weights.h"
#include "../common/tiny_net.h"

using namespace closerlook;
using closerlook::testing::TinyNet;

namespace {

void expect_coeffs(CurveType type, int B, double t, const std::vector<double>& want) {
  auto c = curve_coefficients(type, B, t);
  ASSERT_EQ(c.size(), want.size());
  for (size_t j = 0; j < c.size(); ++j) EXPECT_NEAR(c[j], want[j], 1e-12) << "B=" << B << " t=" << t << " j=" << j;
}

std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("cl_surface_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

}  // namespace

TEST(CurveBasis, BezierOraclesMC1) {
  expect_coeffs(CurveType::Bezier, 3, 0.25, {0.5625, 0.375, 0.0625});
  expect_coeffs(CurveType::Bezier, 3, 0.5, {0.25, 0.5, 0.25});
  expect_coeffs(CurveType::Bezier, 4, 0.5, {0.125, 0.375, 0.375, 0.125});
  expect_coeffs(CurveType::Bezier, 4, 0.25, {0.421875, 0.421875, 0.140625, 0.015625});
  expect_coeffs(CurveType::Bezier, 5, 0.5, {0.0625, 0.25, 0.375, 0.25, 0.0625});
}

TEST(CurveBasis, PolyChainOraclesMC2) {
  expect_coeffs(CurveType::PolyChain, 4, 0.25, {0.25, 0.75, 0, 0});
  expect_coeffs(CurveType::PolyChain, 4, 0.5, {0, 0.5, 0.5, 0});
  expect_coeffs(CurveType::PolyChain, 3, 0.25, {0.5, 0.5, 0});
  expect_coeffs(CurveType::PolyChain, 3, 0.75, {0, 0.5, 0.5});
  expect_coeffs(CurveType::PolyChain, 5, 0.25, {0, 1, 0, 0, 0});
}

TEST(CurveBasis, PartitionOfUnityAndExactEndpoints) {
  for (auto type : {CurveType::Bezier, CurveType::PolyChain})
    for (int B = 2; B <= 7; ++B) {
      for (double t : {0.0, 0.1, 0.37, 0.5, 0.93, 1.0}) {
        auto c = curve_coefficients(type, B, t);
        double s = 0;
        for (double x : c) s += x;
        EXPECT_NEAR(s, 1.0, 1e-12);
      }
      auto c0 = curve_coefficients(type, B, 0.0), c1 = curve_coefficients(type, B, 1.0);
      for (int j = 0; j < B; ++j) {
        EXPECT_EQ(c0[j], j == 0 ? 1.0 : 0.0);
        EXPECT_EQ(c1[j], j == B - 1 ? 1.0 : 0.0);
      }
    }
  EXPECT_THROW(curve_coefficients(CurveType::Bezier, 1, 0.5), Error);
  EXPECT_THROW(parse_curve_type("spline"), Error);
}

TEST(CurveBasis, GaripovScheduleMC6) {
  EXPECT_NEAR(garipov_curve_lr(0.01, 100, 200), 0.01, 1e-12);
  EXPECT_NEAR(garipov_curve_lr(0.01, 140, 200), 0.00505, 1e-12);
  EXPECT_NEAR(garipov_curve_lr(0.01, 180, 200), 1e-4, 1e-12);
  EXPECT_NEAR(garipov_curve_lr(0.01, 200, 200), 1e-4, 1e-12);
  EXPECT_NEAR(garipov_curve_lr(0.01, 1, 200), 0.01, 1e-12);
}

TEST(Curve, BendsStartOnTheLineMC3) {
  auto gen = at::detail::createCPUGenerator(3);
  auto a = torch::randn({257}, gen, torch::kFloat64), b = torch::randn({257}, gen, torch::kFloat64);
  for (auto type : {CurveType::Bezier, CurveType::PolyChain})
    for (int B = 2; B <= 6; ++B) {
      auto curve = Curve::on_line(type, B, a, b, {});
      for (double t : {0.0, 0.13, 0.25, 0.5, 0.71, 1.0}) {
        auto line = (1 - t) * a + t * b;
        EXPECT_LT((curve.point(t) - line).abs().max().item<double>(), 1e-12) << "B=" << B << " t=" << t;
      }
      EXPECT_TRUE(curve.point(0.0).equal(a));
      EXPECT_TRUE(curve.point(1.0).equal(b));
      EXPECT_TRUE(curve.fixed().front() && curve.fixed().back());
    }
}

TEST(Curve, EndpointsReproduceBaseNetworksMC4) {
  at::set_num_threads(1);
  auto data = closerlook::testing::tiny_split();
  TinyNet a(3, true, 3, 1), b(3, true, 3, 2), work(3, true, 3, 7);
  // Give the endpoints their own (recalibrated) BN statistics, as trained nets have.
  recalibrate_batchnorm(a, data.train, torch::kCPU);
  recalibrate_batchnorm(b, data.train, torch::kCPU);
  for (int B : {3, 4})
    for (auto type : {CurveType::Bezier, CurveType::PolyChain}) {
      auto curve = Curve::on_line(type, B, flat_parameters(a, torch::kFloat32), flat_parameters(b, torch::kFloat32),
                                  parameter_layout(a));
      // Perturb interior bends: the endpoints must not depend on them.
      for (int j = 1; j + 1 < B; ++j) curve.bends()[j].add_(torch::randn_like(curve.bends()[j]));
      for (auto [t, base] : {std::pair<double, TinyNet*>{0.0, &a}, {1.0, &b}}) {
        curve.apply(t, work);
        // Import the endpoint's buffers (test_curve.py), then compare logits in eval mode.
        auto src = base->named_buffers(), dst = work.named_buffers();
        for (size_t k = 0; k < src.size(); ++k) dst[k].second.copy_(src[k].second);
        work.train(false);
        base->train(false);
        torch::NoGradGuard ng;
        auto diff = (work.forward(data.test.images) - base->forward(data.test.images)).abs().max().item<double>();
        EXPECT_LT(diff, 1e-4) << "t=" << t << " B=" << B;
      }
    }
}

TEST(Curve, ChainRuleGradientWithPenaltyOnPointMC5) {
  at::set_num_threads(1);
  // The tiny net without BN, differentiated directly through the bends with autograd.
  auto data = closerlook::testing::tiny_split(32, 8);
  TinyNet a(2, false, 3, 1), b(2, false, 3, 2), work(2, false, 3, 5);
  auto curve = Curve::on_line(CurveType::Bezier, 3, flat_parameters(a, torch::kFloat32),
                              flat_parameters(b, torch::kFloat32), parameter_layout(a));
  curve.bends()[1].add_(0.3 * torch::randn_like(curve.bends()[1]));
  const double wd = 0.05, t = 0.3;
  const auto c = curve.coefficients(t);
  auto step = curve_step(curve, c, work, data.train.images, data.train.labels, wd);

  // Reference: theta_j as autograd leaves, w(t) = sum c_j theta_j pushed through the module's
  // functional form, L = CE + 0.5 wd ||w(t)||^2.
  std::vector<torch::Tensor> theta;
  for (int j = 0; j < 3; ++j) theta.push_back(curve.bends()[j].clone().requires_grad_(true));
  auto w = c[0] * theta[0] + c[1] * theta[1] + c[2] * theta[2];
  auto layout = parameter_layout(work);
  std::vector<torch::Tensor> parts;
  int64_t off = 0;
  for (auto& shape : layout.shapes) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    parts.push_back(w.narrow(0, off, n).view(shape));
    off += n;
  }
  // Parameter order of TinyModule without BN: conv.weight, conv.bias, fc.weight, fc.bias.
  auto h = torch::conv2d(data.train.images, parts[0], parts[1], 1, 1);
  h = torch::adaptive_avg_pool2d(torch::relu(h), {2, 2}).flatten(1);
  auto logits = torch::linear(h, parts[2], parts[3]);
  auto loss = torch::nn::functional::cross_entropy(logits, data.train.labels) + 0.5 * wd * w.pow(2).sum();
  loss.backward();
  EXPECT_NEAR(step.loss, loss.item<double>(), 1e-5);
  for (int j = 0; j < 3; ++j) {
    auto mine = step.grad * c[j];
    EXPECT_LT((mine - theta[j].grad()).abs().max().item<double>(), 1e-6) << "bend " << j;
  }
  // The penalty is on w(t), not on the bends: ||w(t)||^2 < sum of bend norms here.
  EXPECT_NEAR(step.loss - step.nll, 0.5 * wd * step.w.to(torch::kFloat64).pow(2).sum().item<double>(), 1e-12);
}

namespace {

struct CurveFixture {
  DataSplit data = closerlook::testing::tiny_split(128, 64);
  TinyNet a{3, true, 3, 1}, b{3, true, 3, 2}, work{3, true, 3, 9};
  CurveTrainOptions opts;
  CurveFixture() {
    at::set_num_threads(1);
    opts.epochs = 4;
    opts.lr = 0.05;
    opts.batch_size = 32;
    opts.weight_decay = 1e-3;
    opts.seed = 3;
  }
  Curve line_curve() {
    return Curve::on_line(CurveType::Bezier, 3, flat_parameters(a, torch::kFloat32),
                          flat_parameters(b, torch::kFloat32), parameter_layout(a));
  }
  double mean_curve_nll(const Curve& c) {
    EvalSettings es;
    es.test_samples = -1;
    PointEvaluator ev(work, data, torch::kCPU, es);
    PathOptions po;
    po.points = 5;
    po.quiet = true;
    auto p = evaluate_curve_points(ev, c, po);
    double s = 0;
    for (auto& m : p.points) s += m.tr_nll;
    return s / p.points.size();
  }
};

}  // namespace

TEST(CurveTraining, EndpointsFixedAndLossDecreases) {
  CurveFixture f;
  auto curve = f.line_curve();
  auto start0 = curve.bend(0).clone(), end0 = curve.bend(2).clone(), mid0 = curve.bend(1).clone();
  const double before = f.mean_curve_nll(curve);
  auto sum = train_curve(curve, f.work, f.data.train, AugmentSpec{}, torch::kCPU, f.opts, "", true);
  EXPECT_EQ(sum.status, RunStatus::Completed);
  EXPECT_EQ(sum.epoch, 4);
  EXPECT_TRUE(curve.bend(0).equal(start0));
  EXPECT_TRUE(curve.bend(2).equal(end0));
  EXPECT_FALSE(curve.bend(1).equal(mid0));
  const double after = f.mean_curve_nll(curve);
  EXPECT_LT(after, before) << "training did not lower the loss along the curve";
}

TEST(CurveTraining, ResumeIsExact) {
  CurveFixture f;
  const auto dir_full = temp_dir("curve_full"), dir_split = temp_dir("curve_split");
  auto c_full = f.line_curve();
  auto s_full = train_curve(c_full, f.work, f.data.train, AugmentSpec{}, torch::kCPU, f.opts, dir_full, true);
  EXPECT_EQ(s_full.status, RunStatus::Completed);

  // Interrupted after 2 of 4 epochs, then resumed from checkpoints/last.state.pt by a new session
  // that starts from a fresh straight-line curve.
  auto c_split = f.line_curve();
  auto first = f.opts;
  first.stop_after = 2;
  auto s1 = train_curve(c_split, f.work, f.data.train, AugmentSpec{}, torch::kCPU, first, dir_split, true);
  EXPECT_EQ(s1.status, RunStatus::Interrupted);
  EXPECT_EQ(s1.epoch, 2);
  auto c_resumed = f.line_curve();
  auto s2 = train_curve(c_resumed, f.work, f.data.train, AugmentSpec{}, torch::kCPU, f.opts, dir_split, true);
  EXPECT_EQ(s2.status, RunStatus::Completed);
  EXPECT_EQ(s2.epoch, 4);
  EXPECT_TRUE(c_resumed.bends().equal(c_full.bends())) << "resumed curve differs from the uninterrupted one";
  EXPECT_EQ(read_jsonl(dir_split + "/metrics.jsonl").size(), 4u);
  // The saved curve folder loads back to the same bends.
  auto loaded = Curve::load(dir_split);
  EXPECT_TRUE(loaded.bends().equal(c_full.bends()));
  EXPECT_EQ(loaded.fixed(), c_full.fixed());

  // A finished folder is left as is.
  auto c_again = f.line_curve();
  auto s3 = train_curve(c_again, f.work, f.data.train, AugmentSpec{}, torch::kCPU, f.opts, dir_full, true);
  EXPECT_TRUE(s3.already_done);
  std::filesystem::remove_all(dir_full);
  std::filesystem::remove_all(dir_split);
}
