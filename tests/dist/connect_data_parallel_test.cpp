// `connect` data-parallel: two processes on 127.0.0.1 train the same curve as one process with the
// same global batch (odd batch size: the slices differ in size; augmentation on; a model without
// BN) and end with the same bends up to float summation order; only rank 0 writes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../common/tiny_net.h"
#include "core/atomic_file.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "dist/data_parallel.h"
#include "dist/rendezvous.h"
#include "multiprocess.h"
#include "surface/jobs.h"
#include "train/run_training.h"

using namespace closerlook;
using namespace closerlook::testing;
namespace fs = std::filesystem;

namespace {

// 110 examples, batch 25: four batches of 25 (slices 13 + 12) and one of 10 (5 + 5).
std::string endpoint_config(int seed) {
  return "seed = " + std::to_string(seed) + R"(
[data]
dataset = "synthetic"
synthetic_train = 110
synthetic_test = 40
synthetic_size = 8
synthetic_classes = 3
augment = true
crop_pad = 1
[model]
family = "mlp"
mlp_hidden = [24]
batchnorm = false
[train]
epochs = 1
batch_size = 25
lr = 0.5
eval_train_subset = 50
)";
}

ConnectJob connect_job(const std::string& dir, const std::string& out) {
  ConnectJob j;
  j.start = dir + "/a/checkpoints/final.pt";
  j.end = dir + "/b/checkpoints/final.pt";
  j.out_dir = out;
  j.curve.epochs = 3;
  j.curve.batch_size = 25;
  j.curve.lr = 0.2;
  j.curve.seed = 4;
  j.quiet = true;
  return j;
}

double rel_diff(const torch::Tensor& a, const torch::Tensor& b) { return ((a - b).norm() / b.norm()).item<double>(); }

}  // namespace

TEST(DistChild, Connect) {
  if (!role()) GTEST_SKIP() << "child role (started by ConnectDataParallel.*)";
  at::set_num_threads(1);
  auto comm = connect_from_env();
  DataParallel dp(*comm);
  ConnectJob job = connect_job(env_or("CL_TEST_DIR", ""), env_or("CL_TEST_OUT", ""));
  job.data_parallel = &dp;
  auto s = run_connect(job);
  EXPECT_EQ(s.status, RunStatus::Completed);
  if (!s.already_done) EXPECT_EQ(dp.steps_reduced(), 3 * 5);  // one gradient all-reduce per step
}

TEST(ConnectDataParallel, TwoProcessesMatchOneProcessOnTheSameGlobalBatch) {
  at::set_num_threads(1);
  const auto dir = temp_dir("dp_connect");
  for (auto [name, seed] : {std::pair<const char*, int>{"a", 5}, {"b", 6}}) {
    const std::string cfg = dir + "/" + name + ".toml";
    std::ofstream(cfg) << endpoint_config(seed);
    RunOptions o;
    o.quiet = true;
    ASSERT_EQ(run_training(load_train_config(cfg), dir + "/" + name, o).status, RunStatus::Completed);
  }
  const std::string single = dir + "/single", dist = dir + "/dist";
  ASSERT_EQ(run_connect(connect_job(dir, single)).status, RunStatus::Completed);
  auto cs = run_ranks("DistChild.Connect", "connect", 2, dir, {{"CL_TEST_DIR", dir}, {"CL_TEST_OUT", dist}});
  for (const auto& c : cs) ASSERT_EQ(c.status, 0) << describe(cs);

  const auto b1 = read_npy(single + "/bends.npy").to(torch::kFloat64), b2 = read_npy(dist + "/bends.npy").to(torch::kFloat64);
  // The middle bend left the straight line, and both runs moved it to the same place.
  const auto chord_mid = 0.5 * (b1[0] + b1[2]);
  EXPECT_GT(rel_diff(b1[1], chord_mid), 1e-3);
  EXPECT_TRUE(torch::equal(b1[0], b2[0]) && torch::equal(b1[2], b2[2])) << "the fixed endpoints do not move";
  EXPECT_LT(rel_diff(b2[1], b1[1]), 2e-5) << "max abs diff " << (b2[1] - b1[1]).abs().max().item<double>();
  EXPECT_EQ(read_json(dist + "/config.json")["config_hash"], read_json(single + "/config.json")["config_hash"]);
  EXPECT_EQ(read_json(dist + "/summary.json")["status"], "completed");
  EXPECT_TRUE(file_exists(dist + "/checkpoints/bend-1.pt"));
  for (const auto& e : fs::recursive_directory_iterator(dist))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();

  // Rerunning the finished folder does nothing on every rank (and does not hang).
  auto again = run_ranks("DistChild.Connect", "connect", 2, dir, {{"CL_TEST_DIR", dir}, {"CL_TEST_OUT", dist}});
  for (const auto& c : again) EXPECT_EQ(c.status, 0) << describe(again);
  EXPECT_TRUE(torch::equal(read_npy(dist + "/bends.npy").to(torch::kFloat64), b2));
  fs::remove_all(dir);
}
