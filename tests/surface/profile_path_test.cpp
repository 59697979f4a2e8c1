// Profiles: Garipov's chord-length average (MC8), barrier heights, sample parameters, and
// straight-line interpolation (endpoint values equal the recalibrated endpoints', paths through
// several checkpoints, resumable partial profiles, file round trip).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/atomic_file.h"
#include "core/json_io.h"
#include "surface/bn_recalibration.h"
#include "surface/path_eval.h"
#include "surface/profile.h"
#include "surface/weights.h"
#include "train/evaluate.h"
#include "../common/tiny_net.h"

using namespace closerlook;
using closerlook::testing::TinyNet;

namespace {
std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("cl_surface_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}
}  // namespace

TEST(Profile, ChordAverageMC8) {
  EXPECT_DOUBLE_EQ(chord_average({1, 2, 4}, {0, 1, 3}), 2.625);
  EXPECT_DOUBLE_EQ(chord_average({3, 3}, {0, 2}), 3.0);
}

TEST(Profile, BarrierHeight) {
  // Straight chord from 1 to 3 over t = 0, .25, .5, .75, 1: values above it by 0, 1, 2.5, 0.5, 0.
  std::vector<double> t = {0, 0.25, 0.5, 0.75, 1};
  std::vector<double> v = {1, 2.5, 4.5, 3.0, 3};
  EXPECT_DOUBLE_EQ(barrier_height(t, v, 0, 1), 2.5);
  // Below the chord everywhere: no barrier.
  EXPECT_DOUBLE_EQ(barrier_height(t, {1, 0.5, 0.2, 0.4, 3}, 0, 1), 0.0);
  EXPECT_THROW(barrier_height(t, v, 0, 2), Error);
  EXPECT_TRUE(std::isnan(barrier_height(t, {1, NAN, 2, 2, 2}, 0, 1)));
}

// The one barrier definition (surface/profile.h) on known values, over the whole path.
TEST(Profile, BarrierHeightKnownValues) {
  std::vector<double> t(11);
  for (int i = 0; i < 11; ++i) t[i] = i / 10.0;
  auto path = [&](double a, double b, double h) {  // chord a -> b plus a bump h * 4 t (1 - t)
    std::vector<double> v;
    for (double x : t) v.push_back((1 - x) * a + x * b + h * 4 * x * (1 - x));
    return v;
  };
  // Flat line: no barrier.
  EXPECT_DOUBLE_EQ(barrier_height(t, std::vector<double>(11, 0.7)), 0.0);
  // A sloped straight line is its own chord: no barrier.
  EXPECT_NEAR(barrier_height(t, path(0.2, 0.9, 0.0)), 0.0, 1e-12);
  // A bump of height 1.5 on a sloped chord (peak at t = 0.5).
  EXPECT_NEAR(barrier_height(t, path(0.2, 0.4, 1.5)), 1.5, 1e-12);
  EXPECT_NEAR(barrier_height(t, path(0.2, 0.4, 1.5), 0, 1), 1.5, 1e-12);
  // A dip: clamped at 0, never negative.
  EXPECT_DOUBLE_EQ(barrier_height(t, path(1.0, 1.0, -0.5)), 0.0);
  // A NaN (or inf) anywhere in the path: the barrier is unknown.
  auto v = path(0.2, 0.4, 1.5);
  v[3] = NAN;
  EXPECT_TRUE(std::isnan(barrier_height(t, v)));
  v[3] = INFINITY;
  EXPECT_TRUE(std::isnan(barrier_height(t, v)));
  // t0/t1 pick a stretch: on [0, 0.5] the chord runs from v(0) to v(0.5) (the bump's peak), and
  // the barrier is measured against that chord, on the samples t = 0 .. 0.5 only.
  auto w = path(0.2, 0.4, 1.5);
  double expect = 0;
  for (int i = 0; i <= 5; ++i) expect = std::max(expect, w[i] - ((1 - i / 5.0) * w[0] + (i / 5.0) * w[5]));
  EXPECT_NEAR(barrier_height(t, w, 0, 0.5), expect, 1e-12);
  EXPECT_GT(expect, 0.0);
  // Fewer than 2 points, or t0/t1 not sample points / not increasing: bad input.
  EXPECT_THROW(barrier_height({0.0}, {1.0}), Error);
  EXPECT_THROW(barrier_height(t, w, 0.05, 1), Error);
  EXPECT_THROW(barrier_height(t, w, 1, 0), Error);
}

TEST(Profile, PathParametersIncludeTheAnchors) {
  auto ts = path_parameters(5, 0, 1);
  ASSERT_EQ(ts.size(), 5u);
  EXPECT_DOUBLE_EQ(ts[2], 0.5);
  auto ext = path_parameters(11, -0.2, 1.2);
  ASSERT_EQ(ext.size(), 15u);
  EXPECT_NEAR(ext.front(), -0.2, 1e-12);
  EXPECT_DOUBLE_EQ(ext[2], 0.0);
  EXPECT_DOUBLE_EQ(ext[12], 1.0);
  EXPECT_EQ(path_parameters(3, 0, 2).size(), 5u);
  EXPECT_THROW(path_parameters(1, 0, 1), Error);
}

TEST(Interpolation, EndsEqualTheRecalibratedEndpoints) {
  at::set_num_threads(1);
  auto data = closerlook::testing::tiny_split(64, 32);
  TinyNet a(3, true, 3, 1), b(3, true, 3, 2), work(3, true, 3, 9);
  EvalSettings es;
  es.bn_batch_size = 16;
  es.weight_decay = 0.01;
  PointEvaluator ev(work, data, torch::kCPU, es);
  PathOptions po;
  po.points = 5;
  po.quiet = true;
  auto p = interpolate_anchors(ev, {flat_parameters(a), flat_parameters(b)}, po);
  ASSERT_EQ(p.points.size(), 5u);
  EXPECT_EQ(p.kind, "line");
  for (auto [idx, net] : {std::pair<size_t, TinyNet*>{0, &a}, {4, &b}}) {
    BnRecalibrationOptions bo;
    bo.batch_size = 16;
    recalibrate_batchnorm(*net, data.train, torch::kCPU, bo);
    auto tr = evaluate(*net, data.train, torch::kCPU, 1000);
    auto te = evaluate(*net, data.test, torch::kCPU, 1000);
    const auto& m = p.points[idx];
    EXPECT_NEAR(m.tr_nll, tr.loss, 1e-6);
    EXPECT_NEAR(m.tr_err, tr.error(), 1e-12);
    EXPECT_NEAR(m.te_nll, te.loss, 1e-6);
    EXPECT_NEAR(m.te_err, te.error(), 1e-12);
    const double sq = flat_parameters(*net).pow(2).sum().item<double>();
    EXPECT_NEAR(m.tr_loss, tr.loss + 0.5 * 0.01 * sq, 1e-6);
  }
  // Chord lengths: equal steps summing to ||b - a||.
  const double dist = (flat_parameters(b) - flat_parameters(a)).norm().item<double>();
  EXPECT_NEAR(p.length(), dist, 1e-9 * dist);
  EXPECT_NEAR(p.dl[1], dist / 4, 1e-9 * dist);
  auto s = p.summary();
  EXPECT_TRUE(s.contains("tr_loss"));
  EXPECT_GE(s["tr_loss"]["barrier"].get<double>(), 0.0);
}

TEST(Interpolation, PathThroughSeveralCheckpointsAndBeyond) {
  at::set_num_threads(1);
  auto data = closerlook::testing::tiny_split(48, 16);
  TinyNet a(3, true, 3, 1), b(3, true, 3, 2), c(3, true, 3, 3), work(3, true, 3, 9);
  EvalSettings es;
  es.bn_batch_size = 16;
  PointEvaluator ev(work, data, torch::kCPU, es);
  PathOptions po;
  po.points = 3;
  po.quiet = true;
  auto p = interpolate_anchors(ev, {flat_parameters(a), flat_parameters(b), flat_parameters(c)}, po);
  ASSERT_EQ(p.t.size(), 5u);
  EXPECT_EQ(p.kind, "path");
  EXPECT_EQ(p.to_json()["segments"].size(), 2u);
  // The anchor points are evaluated exactly at the checkpoints.
  auto mb = ev.evaluate_flat(flat_parameters(b));
  EXPECT_DOUBLE_EQ(p.points[2].te_nll, mb.te_nll);

  po.points = 5;
  po.t_min = -0.5;
  po.t_max = 1.5;
  auto ext = interpolate_anchors(ev, {flat_parameters(a), flat_parameters(b)}, po);
  ASSERT_EQ(ext.t.size(), 9u);
  EXPECT_DOUBLE_EQ(ext.t[2], 0.0);
  auto ma = ev.evaluate_flat(flat_parameters(a));
  EXPECT_DOUBLE_EQ(ext.points[2].te_nll, ma.te_nll);
}

TEST(Interpolation, PartialProfileResumesAndFilesRoundTrip) {
  at::set_num_threads(1);
  auto data = closerlook::testing::tiny_split(48, 16);
  TinyNet a(3, true, 3, 1), b(3, true, 3, 2), work(3, true, 3, 9);
  EvalSettings es;
  es.bn_batch_size = 16;
  PointEvaluator ev(work, data, torch::kCPU, es);
  PathOptions po;
  po.points = 4;
  po.quiet = true;
  const auto dir = temp_dir("profile");
  auto full = interpolate_anchors(ev, {flat_parameters(a), flat_parameters(b)}, po, {}, dir, "line");
  EXPECT_FALSE(file_exists(dir + "/line.partial.json")) << "a finished profile removes its partial file";

  // An interrupted run (the third point throws) leaves the finished points in the partial file.
  nlohmann::json st = {{"what", "resume test"}};
  int calls = 0, fail_at = 3;
  auto point_at = [&](double t) {
    if (++calls == fail_at) throw std::runtime_error("killed");
    return ((1 - t) * flat_parameters(a) + t * flat_parameters(b));
  };
  EXPECT_THROW(evaluate_profile(ev, "line", full.t, point_at, st, dir, "resume", true), std::runtime_error);
  const std::string partial = dir + "/resume.partial.json";
  ASSERT_TRUE(file_exists(partial));
  auto j = read_json(partial);
  ASSERT_EQ(j["points"].size(), 2u);
  j["points"]["1"]["te_nll"] = 123.0;  // a marker: finished points are not recomputed
  write_json(partial, j);
  calls = 0;
  fail_at = -1;
  auto resumed = evaluate_profile(ev, "line", full.t, point_at, st, dir, "resume", true);
  EXPECT_DOUBLE_EQ(resumed.points[1].te_nll, 123.0);
  EXPECT_DOUBLE_EQ(resumed.points[0].te_nll, full.points[0].te_nll);
  EXPECT_DOUBLE_EQ(resumed.points[2].te_nll, full.points[2].te_nll);
  EXPECT_DOUBLE_EQ(resumed.points[3].te_nll, full.points[3].te_nll);
  EXPECT_FALSE(file_exists(partial));

  write_profile(full, dir, "line");
  auto back = read_profile(dir + "/line.json");
  ASSERT_EQ(back.points.size(), full.points.size());
  for (size_t i = 0; i < back.points.size(); ++i) {
    EXPECT_DOUBLE_EQ(back.points[i].tr_loss, full.points[i].tr_loss);
    EXPECT_DOUBLE_EQ(back.t[i], full.t[i]);
  }
  EXPECT_TRUE(file_exists(dir + "/line.csv"));
  EXPECT_TRUE(file_exists(dir + "/line.npy"));
  std::filesystem::remove_all(dir);
}
