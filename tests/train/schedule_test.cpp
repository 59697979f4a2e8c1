// LR schedules pinned to closed-form values.
#include <gtest/gtest.h>

#include <cmath>

#include "train/schedule.h"

using namespace closerlook;

namespace {
ScheduleSpec spec(const std::string& kind, double lr, int64_t epochs, int64_t ipe) {
  ScheduleSpec s;
  s.kind = kind;
  s.lr = lr;
  s.epochs = epochs;
  s.iters_per_epoch = ipe;
  return s;
}
double sgdr_closed_form(double t_cur, double t_i, double lo, double hi) {
  return lo + 0.5 * (hi - lo) * (1 + std::cos(M_PI * t_cur / t_i));
}
}  // namespace

TEST(Schedule, ConstantIsConstant) {
  auto s = spec("constant", 0.05, 3, 7);
  for (int64_t k = 0; k < 21; ++k) EXPECT_EQ(schedule_lr(s, k), 0.05);
}

TEST(Schedule, StepDecaysEveryKEpochs) {
  auto s = spec("step", 0.1, 10, 5);
  s.step_epochs = 3;
  s.gamma = 0.5;
  EXPECT_DOUBLE_EQ(schedule_lr(s, 0), 0.1);
  EXPECT_DOUBLE_EQ(schedule_lr(s, 3 * 5 - 1), 0.1);   // last iteration of epoch 3
  EXPECT_DOUBLE_EQ(schedule_lr(s, 3 * 5), 0.05);      // first of epoch 4
  EXPECT_DOUBLE_EQ(schedule_lr(s, 6 * 5), 0.025);
  EXPECT_DOUBLE_EQ(schedule_lr(s, 9 * 5 + 4), 0.0125);
}

TEST(Schedule, MultistepAtMilestones) {
  auto s = spec("multistep", 1.0, 20, 4);
  s.milestones = {5, 12};
  s.gamma = 0.1;
  EXPECT_DOUBLE_EQ(schedule_lr(s, 5 * 4 - 1), 1.0);
  EXPECT_DOUBLE_EQ(schedule_lr(s, 5 * 4), 0.1);
  EXPECT_DOUBLE_EQ(schedule_lr(s, 12 * 4 - 1), 0.1);
  EXPECT_NEAR(schedule_lr(s, 12 * 4), 0.01, 1e-15);
}

TEST(Schedule, LinearDecayToFinal) {
  auto s = spec("linear", 0.2, 10, 10);
  s.final_lr = 0.02;
  EXPECT_DOUBLE_EQ(schedule_lr(s, 0), 0.2);
  EXPECT_NEAR(schedule_lr(s, 50), 0.11, 1e-15);
  EXPECT_NEAR(schedule_lr(s, 25), 0.2 + (0.02 - 0.2) * 0.25, 1e-15);
  EXPECT_NEAR(schedule_lr(s, 100), 0.02, 1e-15);
}

TEST(Schedule, CosineAnnealing) {
  auto s = spec("cosine", 0.1, 4, 25);
  s.eta_min = 0.001;
  EXPECT_DOUBLE_EQ(schedule_lr(s, 0), 0.1);
  EXPECT_NEAR(schedule_lr(s, 50), 0.001 + 0.5 * 0.099, 1e-15);
  EXPECT_NEAR(schedule_lr(s, 25), 0.001 + 0.5 * 0.099 * (1 + std::cos(M_PI / 4)), 1e-15);
  EXPECT_NEAR(schedule_lr(s, 100), 0.001, 1e-15);
}

TEST(Schedule, SgdrRestartsAtT0TimesGeometricSums) {
  const int64_t ipe = 8;
  auto s = spec("sgdr", 0.05, 150, ipe);
  s.sgdr_t0 = 10;
  s.sgdr_tmult = 2;
  s.eta_min = 1e-6;
  EXPECT_EQ(sgdr_cycle_end_epochs(10, 2, 150), (std::vector<int64_t>{10, 30, 70, 150}));
  EXPECT_EQ(sgdr_cycle_end_epochs(10, 2, 149), (std::vector<int64_t>{10, 30, 70}));
  EXPECT_EQ(sgdr_cycle_end_epochs(5, 1, 17), (std::vector<int64_t>{5, 10, 15}));
  const std::vector<std::pair<int64_t, int64_t>> cycles = {{0, 10}, {10, 20}, {30, 40}, {70, 80}};
  for (auto [start, len] : cycles) {
    // eta_max right at the restart, eta_min approached at the end of the cycle.
    EXPECT_DOUBLE_EQ(schedule_lr(s, start * ipe), 0.05) << "restart at epoch " << start;
    const int64_t last = (start + len) * ipe - 1;
    EXPECT_NEAR(schedule_lr(s, last), sgdr_closed_form(len - 1.0 / ipe, len, 1e-6, 0.05), 1e-15);
    EXPECT_LT(schedule_lr(s, last), 1e-6 + 0.05 * (M_PI / (len * ipe)) * (M_PI / (len * ipe)));
    // Per-iteration T_cur: the middle of the cycle is the midpoint value.
    EXPECT_NEAR(schedule_lr(s, (start * 2 + len) * ipe / 2), 0.5 * (0.05 + 1e-6), 1e-15);
    // Fractional epochs: a quarter of the way through.
    const int64_t q = start * ipe + len * ipe / 4;
    EXPECT_NEAR(schedule_lr(s, q), sgdr_closed_form(len / 4.0, len, 1e-6, 0.05), 1e-15);
  }
  // Monotone within a cycle.
  for (int64_t k = 30 * ipe; k + 1 < 70 * ipe; ++k) ASSERT_GT(schedule_lr(s, k), schedule_lr(s, k + 1));
  // The cycle after epoch 150 starts again at eta_max.
  EXPECT_DOUBLE_EQ(sgdr_lr(150 * ipe, ipe, 10, 2, 1e-6, 0.05), 0.05);
}

TEST(Schedule, GaripovCurveSchedule) {
  EXPECT_EQ(garipov_factor(0.0), 1.0);
  EXPECT_EQ(garipov_factor(0.5), 1.0);
  EXPECT_NEAR(garipov_factor(0.7), 1.0 - 0.5 * 0.99, 1e-15);
  EXPECT_NEAR(garipov_factor(0.9), 0.01, 1e-15);
  EXPECT_EQ(garipov_factor(0.95), 0.01);
  // 200 epochs at base 0.01: epoch 100 -> 0.01, 140 -> 0.00505, 180 -> 1e-4, 200 -> 1e-4.
  auto s = spec("garipov", 0.01, 200, 3);
  EXPECT_NEAR(schedule_lr(s, 100 * 3), 0.01, 1e-12);
  EXPECT_NEAR(schedule_lr(s, 140 * 3), 0.00505, 1e-12);
  EXPECT_NEAR(schedule_lr(s, 180 * 3), 1e-4, 1e-12);
  EXPECT_NEAR(schedule_lr(s, 200 * 3), 1e-4, 1e-12);
}

TEST(Schedule, WarmupRampComposesWithAnyKind) {
  for (const std::string kind : {"constant", "step", "cosine", "sgdr", "linear"}) {
    auto s = spec(kind, 2.5, 10, 20);
    s.step_epochs = 1;
    s.sgdr_t0 = 1;
    s.warmup_iters = 30;
    for (int64_t k = 0; k < 30; ++k)
      EXPECT_NEAR(schedule_lr(s, k), base_schedule_lr(s, k) * double(k + 1) / 30.0, 1e-15) << kind << " k=" << k;
    for (int64_t k = 30; k < 60; ++k) EXPECT_EQ(schedule_lr(s, k), base_schedule_lr(s, k)) << kind;
  }
  auto s = spec("constant", 2.5, 1, 200);
  s.warmup_iters = 200;
  EXPECT_DOUBLE_EQ(schedule_lr(s, 0), 2.5 / 200);
  EXPECT_DOUBLE_EQ(schedule_lr(s, 99), 2.5 * 100 / 200);
  EXPECT_DOUBLE_EQ(schedule_lr(s, 199), 2.5);
}
