// The surface engine on a CUDA device against the CPU: one curve step, a short curve training
// (dataset and augmentation on the device, windowed loss reads), point evaluation with BN
// recalibration, and a small plane. Without a usable CUDA device every SurfaceCuda test is
// skipped and says why (and whether this binary was built with CL_WITH_CUDA). Select them with
// --gtest_filter='*Cuda*' or `ctest -R Cuda`. The DevicePathsCpu tests run everywhere.
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "core/json_io.h"
#include "data/counter_rng.h"
#include "surface/bn_recalibration.h"
#include "surface/curve_training.h"
#include "surface/plane.h"
#include "surface/point_eval.h"
#include "surface/weights.h"
#include "../common/cuda.h"
#include "../common/tiny_net.h"

using namespace closerlook;
using closerlook::testing::StrictCuda;
using closerlook::testing::TinyNet;
namespace fs = std::filesystem;

namespace {


double rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  const auto a64 = a.detach().cpu().to(torch::kFloat64), b64 = b.detach().cpu().to(torch::kFloat64);
  return ((a64 - b64).norm() / a64.norm().clamp_min(1e-30)).item<double>();
}

std::string temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("cl_surface_cuda_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}

Curve line_curve(Network& a, Network& b) {
  return Curve::on_line(CurveType::Bezier, 3, flat_parameters(a, torch::kFloat32), flat_parameters(b, torch::kFloat32),
                        parameter_layout(a));
}

Curve curve_on(const Curve& c, torch::Device d) {
  return Curve(c.type(), c.bends().to(d), c.fixed(), c.layout());
}

void expect_metrics_near(const PointMetrics& g, const PointMetrics& c, int64_t n_train, int64_t n_test) {
  for (const char* k : {"tr_loss", "tr_nll", "te_loss", "te_nll"})
    EXPECT_NEAR(metric_value(g, k), metric_value(c, k), 1e-4 * std::max(1.0, std::fabs(metric_value(c, k)))) << k;
  // An arg-max tie may flip on another device: at most one example per set.
  EXPECT_NEAR(g.tr_err, c.tr_err, 1.0 / double(n_train) + 1e-12);
  EXPECT_NEAR(g.te_err, c.te_err, 1.0 / double(n_test) + 1e-12);
  EXPECT_NEAR(g.weight_norm, c.weight_norm, 1e-9 * c.weight_norm);
}

}  // namespace

// curve_step reads its three values in one transfer: the same values as its device tensors, and
// (on the CPU) the old per-value arithmetic nll + 0.5 wd ||w||^2, bit for bit.
TEST(DevicePathsCpu, CurveStepValuesMatchTheirTensors) {
  auto data = closerlook::testing::tiny_split(32, 8);
  TinyNet a(3, true, 3, 1), b(3, true, 3, 2), work(3, true, 3, 5);
  auto curve = line_curve(a, b);
  const double wd = 0.01;
  const auto c = curve.coefficients(0.4);
  CurveStep st = curve_step(curve, c, work, data.train.images, data.train.labels, wd);
  EXPECT_EQ(st.nll, st.nll_t.item<double>());
  EXPECT_EQ(st.loss, st.loss_t.item<double>());
  EXPECT_EQ(st.wrong, st.wrong_t.item<int64_t>());
  EXPECT_EQ(st.loss, st.nll + 0.5 * wd * st.w.to(torch::kFloat64).pow(2).sum().item<double>());
}

// train_curve with device-side sums gives, on the CPU, exactly what the loop with host sums and a
// read per step (the code before the GPU work, restated here with SGD's momentum arithmetic)
// gives: bends and epoch statistics.
TEST(DevicePathsCpu, CurveTrainingEqualsHostSumLoop) {
  at::set_num_threads(1);
  DataSplit data = closerlook::testing::tiny_split(100, 8);  // 4 batches of 32, 28, ... and a short last one
  TinyNet a(3, true, 3, 1), b(3, true, 3, 2), w1(3, true, 3, 9), w2(3, true, 3, 9);
  CurveTrainOptions opts;
  opts.epochs = 3;
  opts.lr = 0.05;
  opts.batch_size = 32;
  opts.weight_decay = 1e-3;
  opts.seed = 3;
  const AugmentSpec aug{true, 1, true};
  Curve c1 = line_curve(a, b), c2 = line_curve(a, b);
  const auto sum = train_curve(c1, w1, data.train, aug, torch::kCPU, opts, "", true);

  torch::Tensor momentum = torch::zeros_like(c2.bends());
  BatchLoader loader(data.train, opts.batch_size, true, false, aug, opts.seed);
  double loss_sum = 0, nll_sum = 0;
  int64_t wrong = 0, seen = 0;
  for (int64_t epoch = 1; epoch <= opts.epochs; ++epoch) {
    const double lr = garipov_curve_lr(opts.lr, epoch, opts.epochs);
    torch::manual_seed(mix_keys({opts.seed, static_cast<uint64_t>(epoch), 0xD80F0A7ULL}));
    loader.set_epoch(epoch - 1);
    loss_sum = nll_sum = 0;
    wrong = seen = 0;
    for (int64_t i = 0; i < loader.num_batches(); ++i) {
      Batch batch = loader.batch(i);
      const int64_t bs = batch.x.size(0);
      if (bs < 2) continue;
      const auto c = c2.coefficients(curve_sample_t(opts.seed, epoch, i));
      CurveStep st = curve_step(c2, c, w2, batch.x, batch.y, opts.weight_decay);
      torch::NoGradGuard ng;
      for (int j : {1}) {  // torch::optim::SGD's arithmetic on the bend's gradient c_j * grad
        auto buf = momentum[j];
        buf.mul_(opts.momentum).add_(st.grad * c[j]);
        c2.bends()[j].add_(buf, -lr);
      }
      wrong += st.wrong;
      loss_sum += st.loss * bs;
      nll_sum += st.nll * bs;
      seen += bs;
    }
  }
  EXPECT_TRUE(c1.bends().equal(c2.bends()));
  EXPECT_EQ(sum.loss, loss_sum / double(seen));
  EXPECT_EQ(sum.nll, nll_sum / double(seen));
  EXPECT_EQ(sum.err, double(wrong) / double(seen));
}

// PointEvaluator's one read per point gives exactly the per-batch host sums it replaced.
TEST(DevicePathsCpu, PointEvaluationEqualsHostSums) {
  at::set_num_threads(1);
  DataSplit data = closerlook::testing::tiny_split(90, 50);
  TinyNet a(3, true, 3, 1), work(3, true, 3, 9);
  EvalSettings es;
  es.bn_samples = 40;
  es.bn_batch_size = 16;
  es.batch_size = 16;  // uneven last batches
  es.weight_decay = 1e-3;
  es.subset_seed = 2;
  PointEvaluator ev(work, data, torch::kCPU, es);
  const PointMetrics m = ev.evaluate_flat(flat_parameters(a));
  // The reference: the same BN state (evaluate_flat left it), a read per batch.
  auto host_sums = [&](const torch::Tensor& x, const torch::Tensor& y, double& nll, double& err) {
    c10::InferenceMode guard;
    work.train(false);
    double s = 0;
    int64_t w = 0;
    for (int64_t i = 0; i < x.size(0); i += es.batch_size) {
      const int64_t bs = std::min(es.batch_size, x.size(0) - i);
      auto logits = work.forward(x.narrow(0, i, bs));
      auto yy = y.narrow(0, i, bs);
      s += torch::nn::functional::cross_entropy(logits, yy,
                                                torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
               .item<double>();
      w += logits.argmax(1).ne(yy).sum().item<int64_t>();
    }
    nll = s / double(x.size(0));
    err = double(w) / double(x.size(0));
  };
  double tr_nll, tr_err, te_nll, te_err;
  host_sums(data.train.images, data.train.labels, tr_nll, tr_err);
  host_sums(data.test.images, data.test.labels, te_nll, te_err);
  const double sq = flat_parameters(work, torch::kFloat64).pow(2).sum().item<double>();
  EXPECT_EQ(m.tr_nll, tr_nll);
  EXPECT_EQ(m.tr_err, tr_err);
  EXPECT_EQ(m.te_nll, te_nll);
  EXPECT_EQ(m.te_err, te_err);
  EXPECT_EQ(m.tr_loss, tr_nll + 0.5 * es.weight_decay * sq);
  EXPECT_EQ(m.weight_norm, std::sqrt(sq));
}

TEST(SurfaceCuda, CurveStepMatchesCpu) {
  CL_REQUIRE_CUDA();
  StrictCuda strict;
  auto data = closerlook::testing::tiny_split(64, 8);
  TinyNet a(3, true, 3, 1), b(3, true, 3, 2), wc(3, true, 3, 5), wg(3, true, 3, 5);
  wg.to(torch::kCUDA);
  Curve cc = line_curve(a, b);
  cc.bends()[1].add_(0.2 * torch::randn_like(cc.bends()[1]));
  const Curve cg = curve_on(cc, torch::kCUDA);
  const double wd = 5e-3;
  const auto c = cc.coefficients(0.3);
  CurveStep sc = curve_step(cc, c, wc, data.train.images, data.train.labels, wd);
  CurveStep sg = curve_step(cg, c, wg, data.train.images.cuda(), data.train.labels.cuda(), wd);
  ASSERT_TRUE(sg.grad.is_cuda());
  EXPECT_NEAR(sg.nll, sc.nll, 1e-5 * std::max(1.0, sc.nll));
  EXPECT_NEAR(sg.loss, sc.loss, 1e-5 * std::max(1.0, sc.loss));
  EXPECT_LE(std::abs(sg.wrong - sc.wrong), 1);
  EXPECT_LT(rel_diff(sc.w, sg.w), 1e-7);
  EXPECT_LT(rel_diff(sc.grad, sg.grad), 1e-4);
  // The async form queues the same step; its tensors hold the values curve_step read.
  CurveStep sa = curve_step_async(cg, c, wg, data.train.images.cuda(), data.train.labels.cuda(), wd);
  EXPECT_NEAR(sa.loss_t.item<double>(), sg.loss, 1e-9 * std::max(1.0, sg.loss));
}

// Four epochs of curve training with crop + flip on CUDA (windowed reads) against the CPU (a
// read every step): the same bends within float tolerance, the same epoch statistics.
TEST(SurfaceCuda, CurveTrainingMatchesCpu) {
  CL_REQUIRE_CUDA();
  StrictCuda strict;
  at::set_num_threads(1);
  DataSplit data = closerlook::testing::tiny_split(128, 64);
  TinyNet a(3, true, 3, 1), b(3, true, 3, 2), wc(3, true, 3, 9), wg(3, true, 3, 9);
  wg.to(torch::kCUDA);
  CurveTrainOptions opts;
  opts.epochs = 4;
  opts.lr = 0.05;
  opts.batch_size = 32;
  opts.weight_decay = 1e-3;
  opts.seed = 3;
  const AugmentSpec aug{true, 1, true};
  Curve cc = line_curve(a, b);
  Curve cg = curve_on(cc, torch::kCUDA);
  const std::string dir = temp_dir("curve");
  auto sc = train_curve(cc, wc, data.train, aug, torch::kCPU, opts, "", true);
  auto sg = train_curve(cg, wg, data.train, aug, torch::kCUDA, opts, dir, true);
  ASSERT_EQ(sc.status, RunStatus::Completed);
  ASSERT_EQ(sg.status, RunStatus::Completed);
  ASSERT_TRUE(cg.bends().is_cuda());
  EXPECT_TRUE(cg.bend(0).cpu().equal(cc.bend(0)));  // fixed endpoints stay exact on the device
  EXPECT_TRUE(cg.bend(2).cpu().equal(cc.bend(2)));
  const double d = rel_diff(cc.bends(), cg.bends());
  EXPECT_LT(d, 1e-3) << "bends differ by " << d << " (relative L2)";
  EXPECT_NEAR(sg.loss, sc.loss, 1e-3 * std::max(1.0, sc.loss));
  EXPECT_NEAR(sg.nll, sc.nll, 1e-3 * std::max(1.0, sc.nll));
  EXPECT_NEAR(sg.err, sc.err, 2.0 / 128);
  EXPECT_EQ(read_jsonl(dir + "/metrics.jsonl").size(), 4u);
  RecordProperty("bends_rel_diff", std::to_string(d));
  fs::remove_all(dir);
}

// Point evaluation with BN recalibration on seeded subsets, and a 3x3 plane, on CUDA vs CPU.
TEST(SurfaceCuda, PointAndPlaneEvaluationMatchCpu) {
  CL_REQUIRE_CUDA();
  StrictCuda strict;
  DataSplit data = closerlook::testing::tiny_split(96, 48);
  TinyNet a(3, true, 3, 1), m(3, true, 3, 2), b(3, true, 3, 3), wc(3, true, 3, 9), wg(3, true, 3, 9);
  wg.to(torch::kCUDA);
  EvalSettings es;
  es.bn_samples = 64;
  es.train_samples = 80;
  es.bn_batch_size = 16;
  es.batch_size = 32;
  es.weight_decay = 1e-3;
  es.subset_seed = 5;
  PointEvaluator evc(wc, data, torch::kCPU, es), evg(wg, data, torch::kCUDA, es);
  const auto w = 0.5 * (flat_parameters(a) + flat_parameters(b));
  const PointMetrics mc = evc.evaluate_flat(w), mg = evg.evaluate_flat(w.cuda());
  expect_metrics_near(mg, mc, 80, 48);
  for (const auto& [name, buf] : wg.named_buffers()) {
    if (name.find("num_batches") != std::string::npos) continue;
    for (const auto& [n2, bc] : wc.named_buffers())
      if (n2 == name) EXPECT_LT(rel_diff(bc, buf), 1e-5) << "BN buffer " << name;
  }

  PlaneInputs in;
  in.w0 = flat_parameters(a);
  in.w1 = flat_parameters(m);
  in.w2 = flat_parameters(b);
  in.names = {"a", "m", "b"};
  PlaneOptions po;
  po.grid = 3;
  po.margin = 0.0;
  po.quiet = true;
  const std::string dc = temp_dir("plane_cpu"), dg = temp_dir("plane_gpu");
  ASSERT_TRUE(evaluate_plane(evc, in, po, dc).complete);
  PlaneInputs ing = in;
  ing.w0 = in.w0.cuda();
  ing.w1 = in.w1.cuda();
  ing.w2 = in.w2.cuda();
  ASSERT_TRUE(evaluate_plane(evg, ing, po, dg).complete);
  const auto pc = read_plane_metrics(dc), pg = read_plane_metrics(dg);
  for (const auto& k : {"tr_loss", "tr_nll", "te_loss", "te_nll"}) {
    const auto diff = (pc.at(k) - pg.at(k)).abs().max().item<double>();
    EXPECT_LT(diff, 1e-4 * std::max(1.0, pc.at(k).abs().max().item<double>())) << k;
  }
  fs::remove_all(dc);
  fs::remove_all(dg);
}
