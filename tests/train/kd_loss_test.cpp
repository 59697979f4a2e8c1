// The distillation loss against a direct element-by-element formula, and its limits.
#include <gtest/gtest.h>

#include <cmath>

#include "train/kd_loss.h"

using namespace closerlook;

namespace {
// alpha T^2 mean_i sum_c pt log(pt/ps) + (1-alpha) mean_i -log softmax(zs)_y, in double loops.
double kd_direct(const torch::Tensor& zs, const torch::Tensor& zt, const torch::Tensor& y, double T, double alpha) {
  auto zs64 = zs.to(torch::kDouble).contiguous(), zt64 = zt.to(torch::kDouble).contiguous();
  auto s = zs64.accessor<double, 2>();
  auto t = zt64.accessor<double, 2>();
  auto lab = y.accessor<int64_t, 1>();
  const int64_t n = zs.size(0), c = zs.size(1);
  double kl = 0, ce = 0;
  for (int64_t i = 0; i < n; ++i) {
    double zs_t = 0, zt_t = 0, z1 = 0;
    for (int64_t k = 0; k < c; ++k) {
      zs_t += std::exp(s[i][k] / T);
      zt_t += std::exp(t[i][k] / T);
      z1 += std::exp(s[i][k]);
    }
    for (int64_t k = 0; k < c; ++k) {
      const double pt = std::exp(t[i][k] / T) / zt_t;
      const double ps = std::exp(s[i][k] / T) / zs_t;
      kl += pt * std::log(pt / ps);
    }
    ce += -std::log(std::exp(s[i][lab[i]]) / z1);
  }
  return alpha * T * T * kl / n + (1 - alpha) * ce / n;
}
}  // namespace

TEST(KdLoss, MatchesDirectFormula) {
  torch::manual_seed(3);
  auto zs = torch::randn({6, 5}, torch::kDouble) * 2;
  auto zt = torch::randn({6, 5}, torch::kDouble) * 3;
  auto y = torch::randint(0, 5, {6}, torch::kLong);
  for (double T : {1.0, 4.0, 20.0})
    for (double a : {0.0, 0.3, 0.9, 1.0})
      EXPECT_NEAR(kd_loss(zs, zt, y, T, a).item<double>(), kd_direct(zs, zt, y, T, a), 1e-10) << "T=" << T << " a=" << a;
}

TEST(KdLoss, AlphaZeroIsCrossEntropy) {
  torch::manual_seed(4);
  auto zs = torch::randn({8, 10});
  auto zt = torch::randn({8, 10});
  auto y = torch::randint(0, 10, {8}, torch::kLong);
  EXPECT_FLOAT_EQ(kd_loss(zs, zt, y, 4.0, 0.0).item<float>(), torch::nn::functional::cross_entropy(zs, y).item<float>());
}

TEST(KdLoss, IdenticalLogitsGiveZeroKl) {
  torch::manual_seed(5);
  auto z = torch::randn({8, 10}, torch::kDouble) * 5;
  auto y = torch::randint(0, 10, {8}, torch::kLong);
  EXPECT_NEAR(kd_soft_kl(z, z, 4.0).item<double>(), 0.0, 1e-14);
  EXPECT_NEAR(kd_loss(z, z.clone(), y, 4.0, 1.0).item<double>(), 0.0, 1e-12);
  // And the KL is positive otherwise.
  EXPECT_GT(kd_soft_kl(z, z + torch::randn({8, 10}, torch::kDouble), 4.0).item<double>(), 1e-6);
}

TEST(KdLoss, GradientFlowsToStudentOnly) {
  torch::manual_seed(6);
  auto zs = torch::randn({4, 3}, torch::requires_grad());
  auto zt = torch::randn({4, 3}, torch::requires_grad());
  auto y = torch::randint(0, 3, {4}, torch::kLong);
  kd_loss(zs, zt, y, 2.0, 0.5).backward();
  EXPECT_TRUE(zs.grad().defined());
  EXPECT_FALSE(zt.grad().defined());
  // Gradient of the soft term w.r.t. student logits: alpha T (ps - pt) / n (Hinton et al.).
  auto zs2 = zs.detach().clone().requires_grad_(true);
  kd_loss(zs2, zt.detach(), y, 2.0, 1.0).backward();
  auto expected = 2.0 * (torch::softmax(zs.detach() / 2.0, 1) - torch::softmax(zt.detach() / 2.0, 1)) / 4.0;
  EXPECT_TRUE(torch::allclose(zs2.grad(), expected, 1e-5, 1e-6));
}
