// Planes given by their directions (random around a point, a trajectory's PCA) through the same
// setup, cells, shards, resume and outputs as the three-point plane: LL2 (the centre cell is the
// unperturbed point), surface(-a; d) == surface(a; -d), sharded + merged == unsharded, resume;
// PCA projections; and streamed projections (issue 16): equal to the in-memory ones, one loaded
// checkpoint alive at a time whatever their number.
#include <gtest/gtest.h>

#include <c10/util/intrusive_ptr.h>

#include <filesystem>

#include "../common/tiny_net.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "surface/directions.h"
#include "surface/plane.h"
#include "surface/weights.h"

using namespace closerlook;
using closerlook::testing::TinyNet;

namespace {

std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("cl_pdir_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

struct RandomFixture {
  DataSplit data = closerlook::testing::tiny_split(48, 24);
  TinyNet centre{3, true, 3, 1}, work{3, true, 3, 9};
  EvalSettings es;
  PlaneOptions po;
  PlaneDefinition def;
  explicit RandomFixture(uint64_t seed = 5) {
    at::set_num_threads(1);
    es.bn_batch_size = 16;
    es.weight_decay = 1e-3;
    po.grid = 3;
    po.save_every = 2;
    po.quiet = true;
    std::vector<torch::Tensor> ws;
    for (auto& [n, t] : centre.named_parameters()) ws.push_back(t.detach());
    RandomDirectionOptions o;
    o.seed = seed;
    const auto rd = random_directions(ws, o);
    def.kind = "random";
    def.basis.origin = flat_parameters(centre);
    def.basis.u = rd.d1;
    def.basis.v = rd.d2;
    def.basis.dx = def.basis.dy = 1.0;
    def.basis.orthonormal = false;
    def.anchors = {{"centre", PlaneCoords{}}};
    def.span = 0.5;
    def.directions = rd.to_json(o);
  }
  std::map<std::string, torch::Tensor> run(const std::string& dir, int shard = 0, int shards = 1) {
    PointEvaluator ev(work, data, torch::kCPU, es);
    auto o = po;
    o.shard = shard;
    o.shards = shards;
    auto r = evaluate_plane(ev, def, o, dir);
    EXPECT_EQ(r.complete, shards == 1);
    return shards == 1 ? read_plane_metrics(dir) : std::map<std::string, torch::Tensor>{};
  }
};

// A loader that hands out fresh copies and counts how many of those it handed out are still
// alive when it is called again (a caller that keeps them, as a vector of all points, shows).
struct CountingLoader {
  std::vector<c10::weak_intrusive_ptr<c10::TensorImpl>> handed;
  int max_alive_at_load = 0, loads = 0;
  torch::Tensor operator()(const torch::Tensor& src) {
    int alive = 0;
    for (const auto& w : handed) alive += w.expired() ? 0 : 1;
    max_alive_at_load = std::max(max_alive_at_load, alive);
    ++loads;
    auto t = src.clone();
    handed.emplace_back(t.getIntrusivePtr());
    return t;
  }
};

}  // namespace

TEST(RandomPlane, CentreCellIsTheUnperturbedPointLL2) {
  RandomFixture f;
  const auto dir = temp_dir("ll2");
  auto res = f.run(dir);
  auto meta = read_json(dir + "/plane.json");
  EXPECT_EQ(meta["kind"], "random");
  const auto alphas = meta["alphas"].get<std::vector<double>>();
  ASSERT_EQ(alphas.size(), 3u);
  EXPECT_EQ(alphas[1], 0.0);  // exactly
  EXPECT_EQ(alphas[0], -alphas[2]);
  EXPECT_EQ(alphas[2], 0.5);
  PointEvaluator ev(f.work, f.data, torch::kCPU, f.es);
  const PointMetrics m = ev.evaluate_flat(flat_parameters(f.centre));
  for (const auto& k : metric_keys()) EXPECT_EQ(res[k][1][1].item<double>(), metric_value(m, k)) << k;  // exact
  // Away from the centre the loss differs (the directions perturb the weights).
  EXPECT_NE(res["tr_nll"][0][0].item<double>(), m.tr_nll);
  for (const char* name : {"alphas.npy", "betas.npy", "grid.npy", "anchor_coordinates.npy", "tr_loss.npy", "te_err.npy",
                           "plane.csv", "plane.json", "plane-setup.json", "directions.json"})
    EXPECT_TRUE(file_exists(dir + "/" + name)) << name;
  EXPECT_FALSE(file_exists(dir + "/bend_coordinates.npy"));
  EXPECT_EQ(read_json(dir + "/directions.json")["seed"], 5);
  std::filesystem::remove_all(dir);
}

TEST(RandomPlane, NegatedDirectionMirrorsTheSurface) {
  // surface(-a; d) == surface(a; -d), bit for bit.
  RandomFixture f, g;
  g.def.basis.u = -f.def.basis.u;
  const auto d1 = temp_dir("sym1"), d2 = temp_dir("sym2");
  auto a = f.run(d1), b = g.run(d2);
  for (const auto& k : metric_keys())
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) EXPECT_EQ(a[k][i][j].item<double>(), b[k][2 - i][j].item<double>()) << k << i << j;
  // A different seed is a different plane, refused in the same folder.
  RandomFixture h(6);
  PointEvaluator ev(h.work, h.data, torch::kCPU, h.es);
  EXPECT_THROW(evaluate_plane(ev, h.def, h.po, d1), Error);
  std::filesystem::remove_all(d1);
  std::filesystem::remove_all(d2);
}

TEST(RandomPlane, ShardedMergedAndResumedEqualUnsharded) {
  RandomFixture f;
  const auto whole = temp_dir("rwhole"), sh = temp_dir("rsh"), merged = temp_dir("rmerged");
  auto ref = f.run(whole);
  f.run(sh, 0, 2);
  f.run(sh, 1, 2);
  merge_plane_shards({sh}, merged);
  auto got = read_plane_metrics(merged);
  for (const auto& k : metric_keys()) EXPECT_TRUE(got[k].equal(ref[k])) << k;
  EXPECT_EQ(read_json(merged + "/directions.json"), read_json(whole + "/directions.json"));
  // Resume: a partial file with all but one cell filled evaluates that cell only.
  GridStore cells({3, 3}, metric_keys(), read_json(whole + "/plane-setup.json").at("setup_hash").get<std::string>());
  for (int64_t c = 0; c < 9; ++c)
    if (c != 4) cells.set(c, std::vector<double>(6, -1.0));
  std::filesystem::remove(whole + "/plane.json");
  write_json(whole + "/plane.partial.json", cells.to_record());
  PointEvaluator ev(f.work, f.data, torch::kCPU, f.es);
  auto r = evaluate_plane(ev, f.def, f.po, whole);
  EXPECT_EQ(r.cells_evaluated, 1);
  EXPECT_EQ(read_plane_metrics(whole)["tr_loss"][1][1].item<double>(), ref["tr_loss"][1][1].item<double>());
  for (const auto& d : {whole, sh, merged}) std::filesystem::remove_all(d);
}

TEST(RandomPlane, ProjectionWithNonOrthogonalDirections) {
  // x, y solve the Gram system of (u, v): a point built as origin + x u + y v projects back.
  auto gen = at::detail::createCPUGenerator(2);
  PlaneBasis b;
  b.origin = torch::randn({40}, gen, torch::kFloat64);
  b.u = torch::randn({40}, gen, torch::kFloat64);
  b.v = 0.5 * b.u + torch::randn({40}, gen, torch::kFloat64);
  b.orthonormal = false;
  auto off = torch::randn({40}, gen, torch::kFloat64);
  // Remove off's component in span(u, v) so its norm is the off-plane distance.
  auto Q = std::get<0>(torch::linalg_qr(torch::stack({b.u, b.v}, 1)));
  off = off - Q.matmul(Q.t().matmul(off));
  const auto c = project_onto_plane(b, b.origin + 0.7 * b.u - 1.3 * b.v + off);
  EXPECT_NEAR(c.x, 0.7, 1e-12);
  EXPECT_NEAR(c.y, -1.3, 1e-12);
  EXPECT_NEAR(c.off_plane, off.norm().item<double>(), 1e-12);
  b.v = 2.0 * b.u;
  EXPECT_THROW(project_onto_plane(b, b.origin), Error);
}

TEST(PcaPlane, IteratesProjectedOnTheirPrincipalPlane) {
  at::set_num_threads(1);
  DataSplit data = closerlook::testing::tiny_split(48, 24);
  TinyNet work(3, true, 3, 9);
  std::vector<torch::Tensor> ws;  // a "trajectory" of 6 nets; the last is the final weights
  for (uint64_t s = 1; s <= 6; ++s) {
    TinyNet n(3, true, 3, s);
    ws.push_back(0.2 * flat_parameters(n) + double(s) * flat_parameters(work));
  }
  TrajectorySource src;
  src.size = 6;
  src.load = [&](int64_t t) { return ws[t].clone(); };
  const PcaDirections pd = trajectory_pca(src, ws.back());
  PlaneDefinition def;
  def.kind = "pca";
  def.basis.origin = ws.back();
  def.basis.u = pd.pc1;
  def.basis.v = pd.pc2;
  def.basis.dx = def.basis.dy = 1.0;
  def.anchors = {{"final", PlaneCoords{}}};
  def.scale_to_points = true;
  CountingLoader counter;
  for (int t = 0; t < 6; ++t) def.project.push_back({"epoch " + std::to_string(t + 1), [&, t] { return counter(ws[t]); }});
  def.directions = pd.to_json({});
  EvalSettings es;
  es.bn_batch_size = 16;
  PointEvaluator ev(work, data, torch::kCPU, es);
  PlaneOptions po;
  po.grid = 3;
  po.quiet = true;
  const auto dir = temp_dir("pca");
  auto r = evaluate_plane(ev, def, po, dir);
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(counter.max_alive_at_load, 0);
  auto meta = read_json(dir + "/plane.json");
  ASSERT_EQ(meta["projections"].size(), 6u);
  double mx = 0;
  for (int t = 0; t < 6; ++t) {
    const auto d = ws[t] - ws.back();
    const double x = d.dot(pd.pc1).item<double>(), y = d.dot(pd.pc2).item<double>();
    const double off = (d - x * pd.pc1 - y * pd.pc2).norm().item<double>();
    const auto& p = meta["projections"][t];
    EXPECT_NEAR(p["x"].get<double>(), x, 1e-12 * ws[t].norm().item<double>()) << t;
    EXPECT_NEAR(p["y"].get<double>(), y, 1e-12 * ws[t].norm().item<double>()) << t;
    EXPECT_NEAR(p["off_plane"].get<double>(), off, 1e-9 * ws[t].norm().item<double>()) << t;
    mx = std::max(mx, std::fabs(x));
  }
  EXPECT_DOUBLE_EQ(meta["dx"].get<double>(), mx);  // alpha units: the largest |x|
  // The axes cover every projected iterate.
  const auto alphas = meta["alphas"].get<std::vector<double>>();
  for (const auto& p : meta["projections"]) {
    EXPECT_LE(alphas.front() * mx, p["x"].get<double>());
    EXPECT_GE(alphas.back() * mx, p["x"].get<double>());
  }
  auto pc = read_npy(dir + "/projection_coordinates.npy");
  EXPECT_EQ(pc.sizes(), (std::vector<int64_t>{6, 3}));
  EXPECT_EQ(read_json(dir + "/directions.json")["rows"], 6);
  std::filesystem::remove_all(dir);
}

TEST(PlaneStream, StreamedProjectionsEqualInMemoryOnesOneAtATime) {
  // Issue 16: the three-point plane's projected checkpoints streamed one at a time give the same
  // plane.json as the held ones, and none of the loaded vectors outlives its projection.
  at::set_num_threads(1);
  DataSplit data = closerlook::testing::tiny_split(48, 24);
  TinyNet a(3, true, 3, 1), m(3, true, 3, 2), b(3, true, 3, 3), work(3, true, 3, 9);
  std::vector<torch::Tensor> epochs;
  for (uint64_t s = 10; s < 40; ++s) {
    TinyNet n(3, true, 3, s);
    epochs.push_back(flat_parameters(n));
  }
  EvalSettings es;
  es.bn_batch_size = 16;
  PlaneOptions po;
  po.grid = 2;
  po.quiet = true;
  PlaneInputs held, streamed;
  for (auto* in : {&held, &streamed}) {
    in->w0 = flat_parameters(a);
    in->w1 = flat_parameters(m);
    in->w2 = flat_parameters(b);
    in->names = {"a", "m", "b"};
  }
  CountingLoader counter;
  for (size_t e = 0; e < epochs.size(); ++e) {
    held.extra.push_back({"epoch " + std::to_string(e), epochs[e]});
    streamed.stream.push_back({"epoch " + std::to_string(e), [&, e] { return counter(epochs[e]); }});
  }
  PointEvaluator ev(work, data, torch::kCPU, es);
  const PlaneSetup sh = plane_setup(ev, held, po), ss = plane_setup(ev, streamed, po);
  EXPECT_EQ(counter.loads, 30);
  EXPECT_EQ(counter.max_alive_at_load, 0);
  ASSERT_EQ(ss.record["projections"].size(), 30u);
  for (size_t k = 0; k < 30; ++k)
    for (const char* f : {"x", "y", "off_plane", "alpha", "beta"})
      EXPECT_NEAR(ss.record["projections"][k][f].get<double>(), sh.record["projections"][k][f].get<double>(), 1e-12)
          << k << f;
  // The same record, so a folder written with held points resumes with streamed ones.
  EXPECT_EQ(ss.record["setup_hash"], sh.record["setup_hash"]);
  EXPECT_EQ(ss.alphas, sh.alphas);
}
