// Sharded analyses over two processes equal the single-process results exactly: a plane grid
// (each rank evaluates its cells, rank 0 merges), a profile along a line, and generic rows.
#include <gtest/gtest.h>

#include <filesystem>

#include "../common/tiny_net.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "dist/rendezvous.h"
#include "dist/sharded.h"
#include "multiprocess.h"
#include "surface/weights.h"

using namespace closerlook;
using namespace closerlook::testing;
namespace fs = std::filesystem;

namespace {

struct ShardSetup {
  DataSplit data = tiny_split(48, 24);
  TinyNet a{3, true, 3, 1}, m{3, true, 3, 2}, b{3, true, 3, 3}, work{3, true, 3, 9};
  EvalSettings es;
  PlaneInputs in;
  PlaneOptions po;
  std::vector<double> ts{0.0, 0.25, 0.5, 0.75, 1.0};
  ShardSetup() {
    at::set_num_threads(1);
    es.bn_batch_size = 16;
    es.weight_decay = 1e-3;
    in.w0 = flat_parameters(a);
    in.w1 = flat_parameters(m);
    in.w2 = flat_parameters(b);
    in.names = {"a", "m", "b"};
    po.grid = 4;  // 16 cells: 8 per rank
    po.margin = 0.1;
    po.save_every = 3;
    po.quiet = true;
  }
  std::function<torch::Tensor(double)> line() {
    return [this](double t) { return (1 - t) * in.w0 + t * in.w2; };
  }
};

}  // namespace

TEST(DistChild, Sharded) {
  if (!role()) GTEST_SKIP() << "child role (started by Sharded.TwoRanksEqualOneProcess)";
  auto comm = connect_from_env();
  ShardSetup s;
  const std::string out = env_or("CL_TEST_OUT", "");
  PointEvaluator ev(s.work, s.data, torch::kCPU, s.es);
  auto r = evaluate_plane_sharded(*comm, ev, s.in, s.po, out + "/plane", {{"test", "sharded"}});
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.cells_evaluated, 8);
  EXPECT_EQ(r.cells_total, 16);
  auto p = evaluate_profile_sharded(*comm, ev, "line", s.ts, s.line(), {{"test", "sharded"}}, true);
  if (comm->is_root()) write_profile(p, out, "line");
  auto rows = sharded_rows(*comm, 7, 2, [](int64_t i) { return std::vector<double>{double(i), -0.0 * double(i)}; });
  if (comm->is_root()) write_npy(out + "/rows.npy", rows);
}

TEST(Sharded, TwoRanksEqualOneProcess) {
  const auto dir = temp_dir("sharded");
  const std::string dist = dir + "/dist", single = dir + "/single";
  fs::create_directories(dist);
  auto cs = run_ranks("DistChild.Sharded", "sharded", 2, dir, {{"CL_TEST_OUT", dist}});
  for (const auto& c : cs) ASSERT_EQ(c.status, 0) << describe(cs);

  ShardSetup s;
  PointEvaluator ev(s.work, s.data, torch::kCPU, s.es);
  auto r = evaluate_plane(ev, s.in, s.po, single + "/plane", {{"test", "sharded"}});
  ASSERT_TRUE(r.complete);
  auto m1 = read_plane_metrics(single + "/plane"), m2 = read_plane_metrics(dist + "/plane");
  for (const auto& [k, v] : m1) {
    ASSERT_TRUE(m2.count(k)) << k;
    EXPECT_TRUE(torch::equal(m2[k], v)) << k << ": sharded plane differs from the unsharded one";
    EXPECT_TRUE(torch::isfinite(v).all().item<bool>()) << k;
  }
  for (const char* f : {"alphas.npy", "betas.npy", "grid.npy", "bend_coordinates.npy"})
    EXPECT_TRUE(torch::equal(read_npy(dist + "/plane/" + f), read_npy(single + "/plane/" + f))) << f;
  EXPECT_EQ(read_json(dist + "/plane/plane-setup.json"), read_json(single + "/plane/plane-setup.json"));
  EXPECT_FALSE(fs::exists(dist + "/plane/shards-of-2")) << "shard folders are removed after the merge";

  write_profile(evaluate_profile(ev, "line", s.ts, s.line(), {{"test", "sharded"}}), single, "line");
  EXPECT_TRUE(torch::equal(read_npy(dist + "/line.npy"), read_npy(single + "/line.npy")));
  EXPECT_EQ(read_json(dist + "/line.json"), read_json(single + "/line.json"));

  auto rows = read_npy(dist + "/rows.npy");
  for (int64_t i = 0; i < 7; ++i) {
    EXPECT_EQ(rows[i][0].item<double>(), double(i));
    EXPECT_TRUE(std::signbit(rows[i][1].item<double>())) << "rows are copied bit for bit: -0 stays -0 (a sum would give +0)";
  }
}
