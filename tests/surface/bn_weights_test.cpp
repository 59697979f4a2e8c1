// Weight vectors (flatten/unflatten, buffers apart, architecture checks) and BN recalibration
// (MC7: one full batch gives the mean and unbiased variance; several batches give the exact
// size-weighted averages; momentum and mode are restored).
#include <gtest/gtest.h>

#include "core/error.h"
#include "surface/bn_recalibration.h"
#include "surface/weights.h"
#include "../common/tiny_net.h"

using namespace closerlook;
using closerlook::testing::TinyNet;

TEST(Weights, FlattenRoundTripKeepsBuffersApart) {
  TinyNet a(3, true, 3, 1), b(3, true, 3, 2);
  auto wa = flat_parameters(a), wb = flat_parameters(b);
  EXPECT_EQ(wa.scalar_type(), torch::kFloat64);
  EXPECT_EQ(wa.numel(), parameter_count(a));
  // conv 3*9+3, bn 3+3, fc 12*3+3
  EXPECT_EQ(wa.numel(), 30 + 6 + 39);
  auto buffers_before = flat_buffers(b);
  load_flat_parameters(b, wa);
  EXPECT_TRUE(flat_parameters(b).equal(wa));
  EXPECT_TRUE(flat_buffers(b).equal(buffers_before)) << "parameters and buffers must stay apart";
  EXPECT_EQ(flat_parameters(a, torch::kFloat32).scalar_type(), torch::kFloat32);
  EXPECT_THROW(load_flat_parameters(b, wa.narrow(0, 0, 10)), Error);
}

TEST(Weights, DifferentArchitecturesAreRefused) {
  TinyNet a(3, true, 3, 1), b(3, true, 3, 2), wide(4, true, 3, 1), nobn(3, false, 3, 1);
  EXPECT_NO_THROW(require_same_architecture(a, b, "a.pt", "b.pt"));
  try {
    require_same_architecture(a, wide, "a.pt", "wide.pt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("wide.pt"), std::string::npos);
  }
  EXPECT_THROW(require_same_architecture(a, nobn, "a.pt", "nobn.pt"), Error);
}

TEST(BnRecalibration, OneFullBatchGivesMeanAndUnbiasedVarMC7) {
  at::set_num_threads(1);
  auto data = closerlook::testing::tiny_split(50, 10);
  TinyNet net(3, true, 3, 4);
  net.train(false);
  auto bns = net.batchnorms();
  bns[0].set_momentum(0.1);
  BnRecalibrationOptions o;
  o.batch_size = 1000;  // one batch with every example
  EXPECT_EQ(recalibrate_batchnorm(net, data.train, torch::kCPU, o), 50);
  torch::NoGradGuard ng;
  auto h = net.module().conv->forward(data.train.images).to(torch::kFloat64);  // the BN input
  auto mean = h.mean({0, 2, 3});
  auto var = h.var({0, 2, 3}, /*unbiased=*/true);
  EXPECT_LT((bns[0].running_mean.to(torch::kFloat64) - mean).abs().max().item<double>(), 1e-6);
  EXPECT_LT((bns[0].running_var.to(torch::kFloat64) - var).abs().max().item<double>(), 1e-6);
  EXPECT_FALSE(net.is_training()) << "mode must be restored";
  EXPECT_DOUBLE_EQ(bns[0].get_momentum(), 0.1) << "momentum must be restored";
}

TEST(BnRecalibration, SeveralBatchesGiveSizeWeightedAverages) {
  at::set_num_threads(1);
  auto data = closerlook::testing::tiny_split(50, 10);
  TinyNet net(3, true, 3, 4);
  BnRecalibrationOptions o;
  o.batch_size = 20;  // batches of 20, 20, 10
  recalibrate_batchnorm(net, data.train, torch::kCPU, o);
  torch::NoGradGuard ng;
  auto h = net.module().conv->forward(data.train.images).to(torch::kFloat64);
  torch::Tensor m = torch::zeros({3}, torch::kFloat64), v = torch::zeros({3}, torch::kFloat64);
  for (auto [s, n] : {std::pair<int64_t, int64_t>{0, 20}, {20, 20}, {40, 10}}) {
    auto hb = h.narrow(0, s, n);
    m += n * hb.mean({0, 2, 3});
    v += n * hb.var({0, 2, 3}, true);
  }
  m /= 50.0;
  v /= 50.0;
  auto bn = net.batchnorms()[0];
  EXPECT_LT((bn.running_mean.to(torch::kFloat64) - m).abs().max().item<double>(), 1e-6);
  EXPECT_LT((bn.running_var.to(torch::kFloat64) - v).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(net.is_training());
}

TEST(BnRecalibration, SubsetIsDeterministicAndTrailingSingletonIsMerged) {
  at::set_num_threads(1);
  auto data = closerlook::testing::tiny_split(41, 10);
  TinyNet a(3, true, 3, 4), b(3, true, 3, 4);
  BnRecalibrationOptions o;
  o.samples = 21;
  o.batch_size = 10;  // 10, 11 (a last batch of 1 would have no variance)
  o.order = seeded_permutation(data.train.size(), 7);
  EXPECT_EQ(recalibrate_batchnorm(a, data.train, torch::kCPU, o), 21);
  EXPECT_EQ(recalibrate_batchnorm(b, data.train, torch::kCPU, o), 21);
  EXPECT_TRUE(flat_buffers(a).equal(flat_buffers(b)));
  EXPECT_TRUE(flat_buffers(a).isfinite().all().item<bool>());
  auto p1 = seeded_permutation(100, 7), p2 = seeded_permutation(100, 7), p3 = seeded_permutation(100, 8);
  EXPECT_TRUE(p1.equal(p2));
  EXPECT_FALSE(p1.equal(p3));
  EXPECT_TRUE(std::get<0>(p1.sort()).equal(torch::arange(100, torch::kInt64)));
}

TEST(BnRecalibration, NetworkWithoutBatchNormIsLeftAlone) {
  auto data = closerlook::testing::tiny_split(20, 10);
  TinyNet net(3, false, 3, 4);
  EXPECT_EQ(recalibrate_batchnorm(net, data.train, torch::kCPU), 0);
}
