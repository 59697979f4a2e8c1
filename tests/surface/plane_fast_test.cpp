// The fast plane method (issue 19 part 3, docs/surface.md "Fast planes"): control variates at the
// plane's anchors and an adaptive train subset, against the full method on the same cells; the
// controls' effect on the standard error; the setup hash and resume; the `plane` flags.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/atomic_file.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "surface/plane.h"
#include "surface/weights.h"
#include "../common/cli.h"
#include "../common/tiny_net.h"

using namespace closerlook;
using closerlook::testing::TinyNet;

namespace {

struct FastPlane {
  DataSplit data = closerlook::testing::tiny_split(1200, 60);
  TinyNet a{3, true, 3, 1}, m{3, true, 3, 2}, b{3, true, 3, 3}, work{3, true, 3, 9};
  EvalSettings full, fast;
  PlaneInputs in;
  PlaneOptions po;
  FastPlane() {
    at::set_num_threads(1);
    full.bn_batch_size = 64;
    full.batch_size = 100;
    full.bn_samples = 400;  // the same BN subset for both methods: the train pass is what differs
    fast = full;
    fast.train_samples = 800;
    fast.train_chunk = 100;
    fast.train_rel_se = 0.01;
    fast.train_controls = true;
    in.w0 = flat_parameters(a);
    in.w1 = flat_parameters(m);
    in.w2 = flat_parameters(b);
    in.names = {"a", "m", "b"};
    po.grid = 5;
    po.margin = 0.2;
    po.quiet = true;
  }
  PlaneResult run(const EvalSettings& es, const std::string& dir) {
    PointEvaluator ev(work, data, torch::kCPU, es);
    return evaluate_plane_controlled(ev, plane_setup(ev, in, po), data.train, po, dir);
  }
};

std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("cl_surface_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

}  // namespace

TEST(FastPlane, TrainNllWithinItsSeOfTheFullMethodOnEveryCell) {
  FastPlane f;
  const auto dfull = temp_dir("fast_full"), dfast = temp_dir("fast_fast");
  ASSERT_TRUE(f.run(f.full, dfull).complete);
  ASSERT_TRUE(f.run(f.fast, dfast).complete);
  const auto ref = read_plane_metrics(dfull), got = read_plane_metrics(dfast);
  const torch::Tensor se = read_npy(dfast + "/tr_nll_se.npy"), ex = read_npy(dfast + "/tr_examples.npy");
  const double rel_se = f.fast.train_rel_se;
  int partial = 0;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      const double x = got.at("tr_nll")[i][j].item<double>(), y = ref.at("tr_nll")[i][j].item<double>();
      const double s = se[i][j].item<double>();
      EXPECT_LE(s, rel_se * std::fabs(x) + 1e-12) << "cell " << i << "," << j << " stopped above its target";
      EXPECT_LE(std::fabs(x - y), 4 * s + 1e-9) << "cell " << i << "," << j;
      EXPECT_LE(std::fabs(x - y), 4 * rel_se * std::fabs(y)) << "cell " << i << "," << j;
      // Test metrics are the whole test set in both methods.
      EXPECT_DOUBLE_EQ(got.at("te_err")[i][j].item<double>(), ref.at("te_err")[i][j].item<double>());
      partial += ex[i][j].item<double>() < f.fast.train_samples;
    }
  EXPECT_GT(partial, 0) << "no cell stopped early: the adaptive sample did nothing";
  const auto meta = read_json(dfast + "/plane.json");
  EXPECT_EQ(meta.value("train_method", ""), "control variates, adaptive");
  EXPECT_EQ(read_json(dfull + "/plane.json").value("train_method", ""), "full");
  ASSERT_TRUE(meta.contains("train_sampling"));
  EXPECT_EQ(meta["train_sampling"]["tr_examples"].size(), 5u);
  EXPECT_TRUE(file_exists(dfast + "/train-controls.npy"));
  EXPECT_FALSE(file_exists(dfull + "/train-controls.npy"));
  for (const auto& d : {dfull, dfast}) std::filesystem::remove_all(d);
}

// Control variates at the anchors shrink the se against the plain mean of the same subset.
TEST(FastPlane, ControlsReduceTheSeOnTheSameSubset) {
  FastPlane f;
  EvalSettings plain = f.fast;
  plain.train_controls = false;
  plain.train_rel_se = 1e-9;  // reads the whole subset, and reports the plain mean's se
  EvalSettings cv = plain;
  cv.train_controls = true;
  PointEvaluator evp(f.work, f.data, torch::kCPU, plain);
  TinyNet work2{3, true, 3, 9};
  PointEvaluator evc(work2, f.data, torch::kCPU, cv);
  const PlaneSetup s = plane_setup(evc, f.in, f.po);
  std::vector<torch::Tensor> anchors;
  for (const auto& [x, y] : s.anchor_xy) anchors.push_back(plane_point(s.basis, x, y));
  evc.set_train_controls(train_controls_at(evc, anchors, f.data.train));
  for (double alpha : {0.3, 0.5, 0.8})
    for (double beta : {0.2, 0.6}) {
      const auto w = plane_point(s.basis, alpha * s.basis.dx, beta * s.basis.dy);
      const PointMetrics mp = evp.evaluate_flat(w), mc = evc.evaluate_flat(w);
      EXPECT_EQ(mp.tr_examples, mc.tr_examples);
      EXPECT_LT(mc.tr_nll_se, 0.5 * mp.tr_nll_se) << "alpha " << alpha << " beta " << beta;
    }
}

// The method is in the setup hash (off: the record as before); a plane folder of one method is
// refused to another, never mixed; the controls' cache is keyed and reused.
TEST(FastPlane, SetupHashHoldsTheMethodAndResumeNeverMixes) {
  FastPlane f;
  auto hash = [&](const EvalSettings& es) {
    PointEvaluator ev(f.work, f.data, torch::kCPU, es);
    return plane_setup(ev, f.in, f.po).record.at("setup_hash").get<std::string>();
  };
  EvalSettings no_cv = f.fast, other_se = f.fast, off = f.full;
  no_cv.train_controls = false;
  other_se.train_rel_se = 0.02;
  EXPECT_NE(hash(f.fast), hash(no_cv));
  EXPECT_NE(hash(f.fast), hash(other_se));
  EXPECT_NE(hash(no_cv), hash(f.full));
  off.train_chunk = 7;  // without train_rel_se the chunk does not matter, and is not recorded
  EXPECT_EQ(hash(off), hash(f.full));
  EXPECT_FALSE(f.full.to_json().contains("train_controls"));

  const auto dir = temp_dir("fast_resume");
  ASSERT_TRUE(f.run(f.fast, dir).complete);
  const auto first = read_plane_metrics(dir);
  EXPECT_THROW(f.run(f.full, dir), Error) << "a fast plane's folder resumed with the full method";
  EXPECT_THROW(f.run(no_cv, dir), Error);
  // Redone from the cached controls: the same values.
  std::filesystem::remove(dir + "/plane.json");
  ASSERT_TRUE(f.run(f.fast, dir).complete);
  EXPECT_TRUE(read_plane_metrics(dir).at("tr_nll").equal(first.at("tr_nll")));
  // A cache of another key is not used: a forged cache with a foreign key is recomputed.
  auto rec = read_json(dir + "/train-controls.json");
  rec["key"]["anchors"] = "0000";
  write_json(dir + "/train-controls.json", rec);
  write_npy(dir + "/train-controls.npy", torch::zeros_like(read_npy(dir + "/train-controls.npy")));
  std::filesystem::remove(dir + "/plane.json");
  ASSERT_TRUE(f.run(f.fast, dir).complete);
  EXPECT_TRUE(read_plane_metrics(dir).at("tr_nll").equal(first.at("tr_nll")));
  EXPECT_GT(read_npy(dir + "/train-controls.npy").abs().sum().item<double>(), 0);
  // An evaluator whose settings ask for controls it was not given does not evaluate cells.
  PointEvaluator bare(f.work, f.data, torch::kCPU, f.fast);
  const PlaneSetup s = plane_setup(bare, f.in, f.po);
  EXPECT_THROW(plane_task(bare, s, f.po, dir), Error);
  std::filesystem::remove_all(dir);
}

TEST(FastPlane, SettingsOutsideTheirRangeAreRefused) {
  FastPlane f;
  for (double r : {-0.1, 1.0, 2.0}) {
    EvalSettings e = f.fast;
    e.train_rel_se = r;
    EXPECT_THROW(PointEvaluator(f.work, f.data, torch::kCPU, e), Error) << r;
  }
  EvalSettings whole = f.fast;
  whole.train_samples = 0;
  EXPECT_THROW(PointEvaluator(f.work, f.data, torch::kCPU, whole), Error) << "controls on the whole set";
}

TEST(FastPlaneCli, BadFlagValuesNameTheFlag) {
  using closerlook::testing::run_closerlook;
  const std::string base = "plane a.pt b.pt c.pt --out /nonexistent/plane --threads 1 ";
  for (const std::string v : {"--train-rel-se=1", "--train-rel-se=1.5", "--train-rel-se=-0.1"}) {
    const auto [rc, out] = run_closerlook(base + "--train-samples 100 " + v);
    EXPECT_NE(rc, 0) << v;
    EXPECT_NE(out.find("--train-rel-se"), std::string::npos) << v << ": " << out;
  }
  {
    const auto [rc, out] = run_closerlook(base + "--train-controls");
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("--train-controls needs --train-samples"), std::string::npos) << out;
  }
  {
    const auto [rc, out] = run_closerlook(base + "--train-rel-se 0.01");
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("--train-rel-se needs --train-samples"), std::string::npos) << out;
  }
  {
    const auto [rc, out] = run_closerlook(base + "--train-samples 100 --train-chunk 0 --train-rel-se 0.01");
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("--train-chunk"), std::string::npos) << out;
  }
  // Valid flags get past the checks (and fail only on the missing checkpoints).
  const auto [rc, out] = run_closerlook(base + "--train-samples 100 --train-controls --train-rel-se 0.01");
  EXPECT_NE(rc, 0);
  EXPECT_EQ(out.find("--train-"), std::string::npos) << out;
}
