// Mixed precision (train/precision.h): the autocast scope casts matrix products to bfloat16 and
// restores the previous state; bf16 training keeps float32 weights and learns like float32.
#include <gtest/gtest.h>

#include <ATen/autocast_mode.h>

#include "../common/tiny_net.h"
#include "../common/train_fixture.h"
#include "core/error.h"
#include "core/json_io.h"
#include "train/precision.h"

using namespace closerlook;
using namespace closerlook::testing;

TEST(Precision, NamesMapToAutocastDtypes) {
  EXPECT_FALSE(autocast_dtype("float32", "x").has_value());
  EXPECT_EQ(autocast_dtype("bf16", "x"), torch::kBFloat16);
  try {
    autocast_dtype("fp8", "train.precision");
    FAIL() << "fp8 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.precision"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fp8"), std::string::npos) << e.what();
  }
}

TEST(Precision, ScopeCastsMatmulsAndRestoresTheState) {
  const auto a = torch::randn({8, 8}), b = torch::randn({8, 8});
  ASSERT_FALSE(at::autocast::is_autocast_enabled(c10::DeviceType::CPU));
  {
    AutocastScope none(torch::kCPU, std::nullopt);
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat32);
  }
  {
    AutocastScope amp(torch::kCPU, torch::kBFloat16);
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    {
      AutocastScope inner(torch::kCPU, torch::kBFloat16);
      EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    }
    EXPECT_TRUE(at::autocast::is_autocast_enabled(c10::DeviceType::CPU)) << "the inner scope ended the outer one";
    // bf16 has 8 significant bits: the product differs from float32 by about 2^-8 relative.
    const auto exact = torch::mm(a.to(torch::kFloat64), b.to(torch::kFloat64));
    const double rel = (torch::mm(a, b).to(torch::kFloat64) - exact).abs().max().item<double>() /
                       exact.abs().max().item<double>();
    EXPECT_GT(rel, 1e-5);
    EXPECT_LT(rel, 5e-2);
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(c10::DeviceType::CPU));
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat32);
}

TEST(Precision, Bf16TrainingKeepsFloat32WeightsAndLearnsLikeFloat32) {
  at::set_num_threads(1);
  double final_loss[2] = {0, 0};
  std::vector<torch::Tensor> weights[2];
  for (int k = 0; k < 2; ++k) {
    TrainFixture f;
    f.spec.epochs = 4;
    f.spec.lr = 0.1;
    f.spec.precision = k == 0 ? "float32" : "bf16";
    TinyNet net(trainer_net(1));
    const double loss0 = evaluate(net, f.train, torch::kCPU).loss;
    auto s = f.run(net, fresh_dir(k == 0 ? "prec_f32" : "prec_bf16"));
    ASSERT_EQ(s.status, RunStatus::Completed);
    final_loss[k] = evaluate(net, f.train, torch::kCPU).loss;
    EXPECT_LT(final_loss[k], 0.6 * loss0) << f.spec.precision;
    for (auto& p : net.parameters()) {
      EXPECT_EQ(p.scalar_type(), torch::kFloat32) << f.spec.precision;
      weights[k].push_back(p.detach().clone());
    }
  }
  // The same run in bf16 is a perturbation of the float32 one: close, but not identical (so the
  // setting did something).
  double diff = 0, norm = 0;
  for (size_t i = 0; i < weights[0].size(); ++i) {
    diff += (weights[0][i] - weights[1][i]).pow(2).sum().item<double>();
    norm += weights[0][i].pow(2).sum().item<double>();
  }
  EXPECT_GT(std::sqrt(diff / norm), 1e-6) << "bf16 training gave float32's weights exactly";
  EXPECT_LT(std::sqrt(diff / norm), 0.2);
  EXPECT_NEAR(final_loss[1], final_loss[0], 0.25 * final_loss[0]);
}
