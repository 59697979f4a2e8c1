// Curvature during training (train.curvature_every / curvature_iters, train/curvature.h): the
// rows of curvature.jsonl are finite, lambda_max >= 0 with BN in eval mode, equal to a direct
// compute_curvature on the same checkpoint and batch (within the Lanczos residuals), training is
// bit-identical with and without tracking (freezing, BN statistics, dropout stream restored), a
// resume keeps one row per measured iteration, and the config hash changes only when the keys
// are set.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>

#include "../common/tiny_net.h"
#include "../common/train_fixture.h"
#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "core/json_io.h"
#include "train/curvature.h"
#include "train/run_dir.h"
#include "train/schedule.h"
#include "train/train_config.h"
#include "train/trainer.h"

using namespace closerlook;
using namespace closerlook::testing;
namespace fs = std::filesystem;

namespace {

// The training tests' fixture (tests/common/train_fixture.h) with a warmed-up cosine schedule.
struct Fixture : TrainFixture {
  Fixture() {
    spec.schedule = "cosine";
    spec.warmup_iters = 3;
  }
  void track(int64_t every, std::vector<int64_t> iters = {}) {
    spec.curvature_every = every;
    spec.curvature_iters = std::move(iters);
    spec.curvature_examples = 32;
    spec.curvature_batch = 16;  // two batches: a between-batch se
    spec.curvature_steps = 20;
    spec.curvature_layer_steps = 12;
    spec.curvature_bn = "eval";
  }
};

std::vector<torch::Tensor> state_of(Network& net) {
  std::vector<torch::Tensor> all;
  for (auto& [n, t] : net.named_parameters()) all.push_back(t.detach().clone());
  for (auto& [n, t] : net.named_buffers()) all.push_back(t.detach().clone());
  return all;
}
bool same(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a[i], b[i])) return false;
  return true;
}

}  // namespace

TEST(CurvatureTracking, RowsAreFiniteAndEqualADirectComputation) {
  at::set_num_threads(1);
  Fixture f;
  f.track(/*every=*/1);
  f.spec.checkpoint_iters = {4};
  TinyNet net(3);
  const auto dir = fresh_dir("curv_track");
  auto s = f.run(net, dir);
  ASSERT_EQ(s.status, RunStatus::Completed);
  const auto rows = read_jsonl(dir + "/curvature.jsonl");
  ASSERT_EQ(rows.size(), 11u);  // iterations 0..10 (the last after the final step)
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    EXPECT_EQ(r["iter"].get<int64_t>(), int64_t(i));
    ASSERT_TRUE(r["lambda_max"].is_number()) << r.dump();
    ASSERT_TRUE(r["lambda_max_se"].is_number()) << r.dump();
    EXPECT_GE(r["lambda_max"].get<double>(), 0.0);  // a PSD-dominated top eigenvalue
    EXPECT_EQ(r["batches"].get<int64_t>(), 2);
    EXPECT_NEAR(r["sharpness"].get<double>(), r["lambda_max"].get<double>() * r["lr"].get<double>() / 2, 1e-12);
    ASSERT_EQ(r["blocks"].size(), 2u);  // features_conv (+ BN), classifier
    double mass = 0;
    for (const auto& b : r["blocks"]) mass += b["top_vector_mass"].get<double>();
    EXPECT_NEAR(mass, 1.0, 1e-9);  // the unit top vector's mass, split over the blocks
    // Per batch: the masses behind the mean (each batch's unit vector sums to 1 over the blocks),
    // and their between-batch se, sd / sqrt(2) = |m_0 - m_1| / 2 for two batches.
    std::vector<double> batch_total(2, 0.0);
    for (const auto& b : r["blocks"]) {
      ASSERT_TRUE(b["top_vector_mass_batches"].is_array()) << b.dump();
      ASSERT_EQ(b["top_vector_mass_batches"].size(), 2u);
      const double m0 = b["top_vector_mass_batches"][0].get<double>(), m1 = b["top_vector_mass_batches"][1].get<double>();
      EXPECT_NEAR((m0 + m1) / 2, b["top_vector_mass"].get<double>(), 1e-12);
      ASSERT_TRUE(b["top_vector_mass_se"].is_number()) << b.dump();
      EXPECT_NEAR(b["top_vector_mass_se"].get<double>(), std::abs(m0 - m1) / 2, 1e-12);
      EXPECT_GT(b["numel"].get<int64_t>(), 0);
      batch_total[0] += m0;
      batch_total[1] += m1;
    }
    for (double t : batch_total) EXPECT_NEAR(t, 1.0, 1e-9);
    for (const auto& b : r["blocks"]) {
      ASSERT_TRUE(b["lambda_max"].is_number());
      // Cauchy interlacing: a block's top eigenvalue is at most the network's (per batch, so
      // also on average), up to the residuals.
      EXPECT_LE(b["lambda_max"].get<double>(), r["lambda_max"].get<double>() + 1e-6 * (1 + r["lambda_max"].get<double>()));
    }
  }
  // Each row's lr is the schedule's at that iteration (the step about to be taken).
  const ScheduleSpec sched = schedule_spec(f.spec, 5);
  for (const auto& r : rows) EXPECT_DOUBLE_EQ(r["lr"].get<double>(), schedule_lr(sched, r["iter"].get<int64_t>()));
  EXPECT_LT(rows[0]["lr"].get<double>(), rows[3]["lr"].get<double>());  // inside the warmup ramp

  // The row at iteration 4 against compute_curvature on checkpoint iter-4, batch by batch, from
  // the seeded start (the tracker warm-starts): equal to the residuals.
  TinyNet again(99);
  again.load(checkpoint_path(dir, "iter-4"));
  CurvatureTrackOptions co;
  co.examples = 32;
  co.batch_size = 16;
  co.bn_train = false;
  co.steps = 20;
  co.layer_steps = 12;
  CurvatureTracker fresh(co, f.train, torch::kCPU);
  auto probs = fresh.problems(again);
  ASSERT_EQ(probs.size(), 2u);
  const auto& r4 = rows[4];
  double mean = 0;
  for (size_t k = 0; k < probs.size(); ++k) {
    CurvatureResult cr = compute_curvature(probs[k], fresh.options());
    const double direct = cr.network.eigenvalues[0];
    const double tracked = r4["lambda_max_batches"][k].get<double>();
    const double tol = cr.network.residuals[0] + r4["residual"].get<double>() + 1e-6 * std::abs(direct);
    EXPECT_NEAR(tracked, direct, tol) << "batch " << k;
    mean += direct / 2;
  }
  EXPECT_NEAR(r4["lambda_max"].get<double>(), mean, 1e-4 * std::abs(mean) + 2 * r4["residual"].get<double>());
  fs::remove_all(dir);
}

TEST(CurvatureTracking, TrainingIsBitIdenticalWithAndWithoutIt) {
  // Dropout, BN in train mode during the products (running statistics touched) and an FC-freeze
  // window (requires_grad off): all restored, so the weights end the same.
  at::set_num_threads(1);
  Fixture f;
  f.spec.freeze_prefixes = {"classifier."};
  f.spec.freeze_iters = 4;
  TinyNet a(7), b(7);
  const auto da = fresh_dir("curv_off"), db = fresh_dir("curv_on");
  f.run(a, da);
  f.track(0, {0, 2, 3, 7});
  f.spec.curvature_bn = "train";
  f.spec.curvature_steps = 4;
  f.spec.curvature_layer_steps = 3;
  f.run(b, db);
  EXPECT_TRUE(same(state_of(a), state_of(b)));
  EXPECT_FALSE(file_exists(da + "/curvature.jsonl"));
  const auto rows = read_jsonl(db + "/curvature.jsonl");
  ASSERT_EQ(rows.size(), 4u);
  std::vector<int64_t> iters;
  for (const auto& r : rows) {
    iters.push_back(r["iter"].get<int64_t>());
    EXPECT_TRUE(r["lambda_max"].is_number()) << r.dump();
    EXPECT_EQ(r["bn"], "train");
  }
  EXPECT_EQ(iters, (std::vector<int64_t>{0, 2, 3, 7}));
  auto ma = read_jsonl(da + "/metrics.jsonl"), mb = read_jsonl(db + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i) EXPECT_EQ(ma[i]["test_loss"], mb[i]["test_loss"]);
  fs::remove_all(da);
  fs::remove_all(db);
}

TEST(CurvatureTracking, ResumeKeepsOneRowPerIteration) {
  at::set_num_threads(1);
  Fixture f;
  f.spec.epochs = 3;
  f.track(2);
  f.spec.curvature_steps = 4;
  f.spec.curvature_layer_steps = 3;
  TinyNet a(2);
  const auto dir = fresh_dir("curv_resume");
  RunOptions opts;
  int64_t steps = 0;
  opts.after_backward = [&](Network&) {
    if (++steps == 7) std::raise(SIGINT);
  };
  EXPECT_THROW(f.run(a, dir, opts), Error);
  TinyNet b(2);
  EXPECT_EQ(f.run(b, dir).status, RunStatus::Completed);
  std::vector<int64_t> iters;
  for (const auto& r : read_jsonl(dir + "/curvature.jsonl")) iters.push_back(r["iter"].get<int64_t>());
  EXPECT_EQ(iters, (std::vector<int64_t>{0, 2, 4, 6, 8, 10, 12, 14}));
  fs::remove_all(dir);
}

TEST(CurvatureTracking, ConfigHashChangesOnlyWhenSet) {
  const std::string toml = R"(
seed = 1
[data]
dataset = "synthetic"
synthetic_train = 64
[model]
family = "mlp"
mlp_hidden = [12, 6]
[train]
epochs = 1
)";
  const auto tree = parse_toml_string(toml, "run.toml");
  const TrainConfig plain = read_train_config(tree, "run.toml");
  EXPECT_EQ(plain.train.curvature_every, 0);
  EXPECT_TRUE(plain.train.curvature_iters.empty());
  EXPECT_EQ(plain.hash(), read_train_config(parse_toml_string(toml, "run.toml"), "run.toml").hash());
  auto with = tree;
  apply_override(with, "train.curvature_every=1");
  const TrainConfig tracked = read_train_config(with, "run.toml");
  EXPECT_EQ(tracked.train.curvature_every, 1);
  EXPECT_NE(plain.hash(), tracked.hash());
  auto bad = tree;
  apply_override(bad, "train.curvature_bn=\"sometimes\"");
  EXPECT_THROW(read_train_config(bad, "run.toml"), Error);
}
