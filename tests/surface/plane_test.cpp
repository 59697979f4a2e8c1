// Planes: basis oracles (PL1), the 3-bend curve lies in its plane (PL2), grid geometry, and grid
// evaluation (cells at the anchors, sharded + merged == unsharded, resume fills only missing cells).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/atomic_file.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "surface/plane.h"
#include "surface/weights.h"
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
torch::Tensor v3(double a, double b, double c) { return torch::tensor({a, b, c}, torch::kFloat64); }
}  // namespace

TEST(PlaneBasis, OracleAndOrthonormalityPL1) {
  auto b = plane_basis(v3(0, 0, 0), v3(1, 2, 0), v3(4, 0, 0));
  EXPECT_DOUBLE_EQ(b.dx, 4.0);
  EXPECT_DOUBLE_EQ(b.dy, 2.0);
  EXPECT_DOUBLE_EQ(b.x1, 1.0);
  auto c0 = project_onto_plane(b, v3(0, 0, 0)), c1 = project_onto_plane(b, v3(1, 2, 0)),
       c2 = project_onto_plane(b, v3(4, 0, 0));
  EXPECT_DOUBLE_EQ(c0.x, 0);
  EXPECT_DOUBLE_EQ(c0.y, 0);
  EXPECT_DOUBLE_EQ(c1.x, 1);
  EXPECT_DOUBLE_EQ(c1.y, 2);
  EXPECT_DOUBLE_EQ(c2.x, 4);
  EXPECT_DOUBLE_EQ(c2.y, 0);
  auto off = project_onto_plane(b, v3(2, 1, 3));
  EXPECT_DOUBLE_EQ(off.off_plane, 3.0);

  auto gen = at::detail::createCPUGenerator(5);
  auto w0 = torch::randn({500}, gen, torch::kFloat64), w1 = torch::randn({500}, gen, torch::kFloat64),
       w2 = torch::randn({500}, gen, torch::kFloat64);
  auto r = plane_basis(w0, w1, w2);
  EXPECT_NEAR(r.u.norm().item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(r.v.norm().item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(r.u.dot(r.v).item<double>(), 0.0, 1e-12);
  EXPECT_LT((plane_point(r, 0, 0) - w0).abs().max().item<double>(), 1e-12);           // grid(0, 0) = w0
  EXPECT_LT((plane_point(r, 1 * r.dx, 0) - w2).abs().max().item<double>(), 1e-12);    // grid(1, 0) = w2
  EXPECT_LT((plane_point(r, r.x1, r.dy) - w1).abs().max().item<double>(), 1e-12);     // the bend at (x1, dy)
  auto p1 = project_onto_plane(r, w1);
  EXPECT_NEAR(p1.x, r.x1, 1e-10);
  EXPECT_NEAR(p1.y, r.dy, 1e-10);
  EXPECT_NEAR(p1.off_plane, 0.0, 1e-10);

  EXPECT_THROW(plane_basis(v3(0, 0, 0), v3(2, 0, 0), v3(4, 0, 0)), Error);  // collinear
  EXPECT_THROW(plane_basis(v3(1, 1, 1), v3(2, 0, 0), v3(1, 1, 1)), Error);  // w0 == w2
}

TEST(PlaneBasis, ThreeBendCurveLiesInItsPlanePL2) {
  auto gen = at::detail::createCPUGenerator(6);
  auto w0 = torch::randn({300}, gen, torch::kFloat64), w2 = torch::randn({300}, gen, torch::kFloat64);
  for (auto type : {CurveType::Bezier, CurveType::PolyChain}) {
    auto curve = Curve::on_line(type, 3, w0, w2, {});
    curve.bends()[1].add_(torch::randn({300}, gen, torch::kFloat64));
    auto b = plane_basis(curve.bend(0), curve.bend(1), curve.bend(2));
    for (double t : {0.0, 0.2, 0.5, 0.77, 1.0}) {
      auto w = curve.point(t);
      auto c = project_onto_plane(b, w);
      auto rec = plane_point(b, c.x, c.y);
      EXPECT_LT((rec - w).norm().item<double>() / w.norm().item<double>(), 1e-10) << "t=" << t;
      EXPECT_LT(c.off_plane / w.norm().item<double>(), 1e-10);
    }
  }
}

TEST(PlaneAxes, DefaultsAndWideningForExtraPoints) {
  auto b = plane_basis(v3(0, 0, 0), v3(1, 2, 0), v3(4, 0, 0));
  auto [as, bs] = plane_axes(b, {}, 21, 0.2);
  ASSERT_EQ(as.size(), 21u);
  EXPECT_NEAR(as.front(), -0.2, 1e-12);
  EXPECT_NEAR(as.back(), 1.2, 1e-12);
  EXPECT_NEAR(bs.front(), -0.2, 1e-12);
  EXPECT_NEAR(bs.back(), 1.2, 1e-12);
  // A projected point at alpha = 1.5, beta = -0.5 widens the range to include it plus the margin.
  PlaneCoords far{1.5 * b.dx, -0.5 * b.dy, 0};
  auto [as2, bs2] = plane_axes(b, {far}, 21, 0.2);
  EXPECT_NEAR(as2.back(), 1.7, 1e-12);
  EXPECT_NEAR(bs2.front(), -0.7, 1e-12);
  EXPECT_NEAR(bs2.back(), 1.2, 1e-12);
}

namespace {

struct PlaneFixture {
  DataSplit data = closerlook::testing::tiny_split(48, 24);
  TinyNet a{3, true, 3, 1}, m{3, true, 3, 2}, b{3, true, 3, 3}, work{3, true, 3, 9};
  EvalSettings es;
  PlaneInputs in;
  PlaneOptions po;
  PlaneFixture() {
    at::set_num_threads(1);
    es.bn_batch_size = 16;
    es.weight_decay = 1e-3;
    in.w0 = flat_parameters(a);
    in.w1 = flat_parameters(m);
    in.w2 = flat_parameters(b);
    in.names = {"a", "m", "b"};
    po.grid = 3;
    po.margin = 0.0;
    po.save_every = 2;
    po.quiet = true;
  }
};

std::map<std::string, torch::Tensor> run(PlaneFixture& f, const std::string& dir, int shard, int shards) {
  PointEvaluator ev(f.work, f.data, torch::kCPU, f.es);
  auto po = f.po;
  po.shard = shard;
  po.shards = shards;
  auto r = evaluate_plane(ev, f.in, po, dir);
  EXPECT_EQ(r.complete, shards == 1);
  if (shards == 1) return read_plane_metrics(dir);
  return {};
}

}  // namespace

TEST(PlaneGrid, CellsAtTheAnchorsAndFiles) {
  PlaneFixture f;
  // The bend projects inside [0, 1] only by chance; widen nothing: margin 0 and alpha from
  // min(0, x1/dx) to max(1, x1/dx).
  const auto dir = temp_dir("plane_anchor");
  auto res = run(f, dir, 0, 1);
  auto meta = read_json(dir + "/plane.json");
  auto alphas = meta["alphas"].get<std::vector<double>>(), betas = meta["betas"].get<std::vector<double>>();
  EXPECT_DOUBLE_EQ(betas.front(), 0.0);
  EXPECT_DOUBLE_EQ(betas.back(), 1.0);
  PointEvaluator ev(f.work, f.data, torch::kCPU, f.es);
  // Cell (i, 0) with alphas[i] == 0 is w0; == 1 is w2 (when they are grid values).
  for (size_t i = 0; i < alphas.size(); ++i) {
    if (alphas[i] == 0.0) {
      auto m0 = ev.evaluate_flat(f.in.w0);
      EXPECT_DOUBLE_EQ(res["tr_loss"][i][0].item<double>(), m0.tr_loss);
      EXPECT_DOUBLE_EQ(res["te_err"][i][0].item<double>(), m0.te_err);
    }
    if (alphas[i] == 1.0) {
      auto m2 = ev.evaluate_flat(f.in.w2);
      EXPECT_DOUBLE_EQ(res["te_nll"][i][0].item<double>(), m2.te_nll);
    }
  }
  for (const char* name : {"alphas.npy", "betas.npy", "grid.npy", "bend_coordinates.npy", "tr_loss.npy", "tr_nll.npy",
                           "tr_err.npy", "te_loss.npy", "te_nll.npy", "te_err.npy", "plane.csv", "plane.json"})
    EXPECT_TRUE(file_exists(dir + "/" + name)) << name;
  auto grid = read_npy(dir + "/grid.npy");
  EXPECT_EQ(grid.sizes(), (std::vector<int64_t>{3, 3, 2}));
  auto bends = read_npy(dir + "/bend_coordinates.npy");
  EXPECT_NEAR(bends[2][0].item<double>(), meta["dx"].get<double>(), 1e-12);
  EXPECT_NEAR(bends[1][1].item<double>(), meta["dy"].get<double>(), 1e-12);
  EXPECT_TRUE(res["tr_loss"].isfinite().all().item<bool>());
  std::filesystem::remove_all(dir);
}

TEST(PlaneGrid, ShardedAndMergedEqualsUnsharded) {
  PlaneFixture f;
  TinyNet extra(3, true, 3, 4);
  f.in.extra.push_back({"extra", flat_parameters(extra)});
  const auto whole = temp_dir("plane_whole"), sh = temp_dir("plane_shards"), sh2 = temp_dir("plane_shards2"),
             merged = temp_dir("plane_merged");
  auto ref = run(f, whole, 0, 1);
  run(f, sh, 0, 3);
  run(f, sh2, 1, 3);  // shards may run in different folders (machines)
  EXPECT_THROW(merge_plane_shards({sh, sh2}, merged), Error) << "shard 2 is missing";
  run(f, sh, 2, 3);
  merge_plane_shards({sh, sh2}, merged);
  auto got = read_plane_metrics(merged);
  for (const auto& k : metric_keys()) EXPECT_TRUE(got[k].equal(ref[k])) << k;
  auto mj = read_json(merged + "/plane.json"), wj = read_json(whole + "/plane.json");
  EXPECT_EQ(mj["projections"], wj["projections"]);
  EXPECT_EQ(mj["alphas"], wj["alphas"]);
  // A different setup in the same folder is refused.
  auto po2 = f.po;
  po2.grid = 4;
  PointEvaluator ev(f.work, f.data, torch::kCPU, f.es);
  EXPECT_THROW(evaluate_plane(ev, f.in, po2, whole), Error);
  for (const auto& d : {whole, sh, sh2, merged}) std::filesystem::remove_all(d);
}

TEST(PlaneGrid, ResumeFillsOnlyMissingCells) {
  PlaneFixture f;
  const auto dir = temp_dir("plane_resume");
  auto ref = run(f, dir, 0, 1);
  // Fake an interrupted run: a partial file where cells (0,1) and (2,2) are missing and the other
  // cells hold marker values.
  GridStore cells({3, 3}, metric_keys(), read_json(dir + "/plane-setup.json").at("setup_hash").get<std::string>());
  for (int64_t c = 0; c < 9; ++c)
    if (c != 0 * 3 + 1 && c != 2 * 3 + 2) cells.set(c, std::vector<double>(6, -7.0));
  std::filesystem::remove(dir + "/plane.json");
  write_json(dir + "/plane.partial.json", cells.to_record());
  PointEvaluator ev(f.work, f.data, torch::kCPU, f.es);
  auto r = evaluate_plane(ev, f.in, f.po, dir);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.cells_evaluated, 2);
  auto got = read_plane_metrics(dir);
  for (const auto& k : metric_keys())
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        const bool missing = (i == 0 && j == 1) || (i == 2 && j == 2);
        if (missing)
          EXPECT_DOUBLE_EQ(got[k][i][j].item<double>(), ref[k][i][j].item<double>()) << k;
        else
          EXPECT_DOUBLE_EQ(got[k][i][j].item<double>(), -7.0) << k << " cell recomputed";
      }
  // A finished plane is not recomputed.
  auto again = evaluate_plane(ev, f.in, f.po, dir);
  EXPECT_EQ(again.cells_evaluated, 0);
  std::filesystem::remove_all(dir);
}
