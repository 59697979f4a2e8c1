// Data-parallel training: two processes on 127.0.0.1 train the same config as one process with
// the same global batch (odd batch size, so the two slices differ in size and the weighting
// matters; augmentation on, so each rank must take exactly its slice of the global batch's
// crops/flips) and end with the same weights up to float summation order. Also: weights
// broadcast from rank 0, BN buffers averaged, only rank 0 writes files, a resume without the
// run folder is refused, and the `closerlook train` CLI runs data-parallel from the environment.
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
#include "surface/weights.h"
#include "train/run_dir.h"
#include "train/run_training.h"

using namespace closerlook;
using namespace closerlook::testing;
namespace fs = std::filesystem;

namespace {

// A model without BN (so per-slice batch statistics cannot make the runs differ), SGD with
// momentum and weight decay, cosine schedule with warm-up, crop + flip augmentation.
// 110 examples, batch 25: four batches of 25 (slices 13 + 12) and one of 10 (5 + 5).
const char* kConfig = R"(seed = 5
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
epochs = 3
batch_size = 25
lr = 1.0
momentum = 0.9
weight_decay = 0.0005
schedule = "cosine"
warmup_iters = 3
eval_train_subset = 50
checkpoint_iters = [7]
)";

std::string write_config(const std::string& dir, const std::string& text = kConfig) {
  const std::string path = dir + "/run.toml";
  std::ofstream(path) << text;
  return path;
}

torch::Tensor final_weights(const std::string& run) {
  auto net = load_network(run + "/checkpoints/final.pt", torch::kCPU);
  return flat_parameters(*net);
}

double rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).norm() / b.norm()).item<double>();
}

std::string single_process_run(const std::string& dir, const std::string& config) {
  at::set_num_threads(1);
  const std::string out = dir + "/single";
  RunOptions opts;
  opts.quiet = true;
  auto s = run_training(load_train_config(config), out, opts);
  EXPECT_EQ(s.status, RunStatus::Completed);
  return out;
}

}  // namespace

TEST(DistChild, Train) {
  if (!role()) GTEST_SKIP() << "child role (started by DataParallel.*)";
  at::set_num_threads(1);
  auto comm = connect_from_env();
  DataParallel dp(*comm);
  RunOptions opts;
  opts.quiet = true;
  opts.data_parallel = &dp;
  auto s = run_training(load_train_config(env_or("CL_TEST_CONFIG", "")), env_or("CL_TEST_OUT", ""), opts);
  EXPECT_EQ(s.status, RunStatus::Completed);
  if (!s.already_done) EXPECT_EQ(dp.steps_reduced(), s.iter);  // one gradient all-reduce per step
  std::printf("rank %d: %s, %lld iterations, test acc %.3f\n", comm->rank(), to_string(s.status), (long long)s.iter,
              s.test.accuracy);
}

TEST(DataParallel, TwoProcessesMatchOneProcessOnTheSameGlobalBatch) {
  const auto dir = temp_dir("dp_train");
  const auto config = write_config(dir);
  const std::string single = single_process_run(dir, config);
  const std::string dist = dir + "/dist";
  auto cs = run_ranks("DistChild.Train", "train", 2, dir, {{"CL_TEST_CONFIG", config}, {"CL_TEST_OUT", dist}});
  for (const auto& c : cs) ASSERT_EQ(c.status, 0) << describe(cs);

  ASSERT_TRUE(load_network(single + "/checkpoints/final.pt", torch::kCPU)->batchnorms().empty())
      << "the equivalence holds for models without BN (BN normalises each rank's slice by its own statistics)";
  const auto w1 = final_weights(single), w2 = final_weights(dist);
  const auto w0 = flat_parameters(*load_network(single + "/checkpoints/init.pt", torch::kCPU));
  // The runs moved far from the start, and ended at the same point up to float rounding.
  EXPECT_GT(rel_diff(w0, w1), 0.05);
  EXPECT_LT(rel_diff(w2, w1), 2e-5) << "max abs diff " << (w2 - w1).abs().max().item<double>();
  EXPECT_LT(rel_diff(flat_parameters(*load_network(dist + "/checkpoints/iter-7.pt", torch::kCPU)),
                     flat_parameters(*load_network(single + "/checkpoints/iter-7.pt", torch::kCPU))),
            2e-5);

  // Same logged losses (the global batch's, not rank 0's slice) and evaluations.
  auto m1 = read_jsonl(single + "/metrics.jsonl"), m2 = read_jsonl(dist + "/metrics.jsonl");
  ASSERT_EQ(m1.size(), 3u);
  ASSERT_EQ(m2.size(), 3u);
  for (size_t e = 0; e < m1.size(); ++e) {
    EXPECT_NEAR(m2[e]["train_loss"].get<double>(), m1[e]["train_loss"].get<double>(), 1e-4);
    EXPECT_NEAR(m2[e]["test_loss"].get<double>(), m1[e]["test_loss"].get<double>(), 1e-4);
  }
  auto s = read_json(dist + "/summary.json");
  EXPECT_EQ(s["status"], "completed");
  // Rank 1 wrote nothing: no temp files or stray outputs next to rank 0's.
  for (const auto& e : fs::recursive_directory_iterator(dist))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();

  // Rerunning the finished folder does nothing on every rank (and does not hang).
  auto again = run_ranks("DistChild.Train", "train", 2, dir, {{"CL_TEST_CONFIG", config}, {"CL_TEST_OUT", dist}});
  for (const auto& c : again) EXPECT_EQ(c.status, 0) << describe(again);
  EXPECT_TRUE(torch::equal(final_weights(dist), w2));
}

TEST(DataParallel, UnevenLastBatchIsRefusedWithAClearMessage) {
  const auto dir = temp_dir("dp_uneven");
  std::string text = kConfig;
  text.replace(text.find("synthetic_train = 110"), 21, "synthetic_train = 101");  // last batch: 1 example
  const auto config = write_config(dir, text);
  auto cs = run_ranks("DistChild.Train", "train", 2, dir, {{"CL_TEST_CONFIG", config}, {"CL_TEST_OUT", dir + "/run"}});
  for (const auto& c : cs) {
    EXPECT_NE(c.status, 0) << describe(cs);
    EXPECT_NE(slurp(c.log).find("the last batch has 1 (set train.drop_last = true)"), std::string::npos)
        << describe(cs);
  }
}

// Each rank starts from different weights and BN statistics: broadcast_network makes every
// rank hold rank 0's, average_buffers the mean of the ranks' running statistics.
TEST(DistChild, BroadcastAndAverage) {
  if (!role()) GTEST_SKIP() << "child role (started by DataParallel.BroadcastAndAverage)";
  auto comm = connect_from_env();
  const int r = comm->rank();
  TinyNet net(3, true, 3, /*seed=*/100 + r);
  {
    torch::NoGradGuard ng;
    net.module().bn->running_mean.fill_(double(r + 1));  // ranks 1, 2, 3 -> mean 2
    net.module().bn->running_var.fill_(double(4 * r));   // 0, 4, 8 -> mean 4
  }
  broadcast_network(*comm, net, 0);
  const auto out = env_or("CL_TEST_OUT", "");
  write_npy(out + "/params-" + std::to_string(r) + ".npy", flat_parameters(net));
  EXPECT_TRUE(torch::allclose(net.module().bn->running_mean, torch::full({3}, 1.0f)));  // rank 0's after broadcast
  {
    torch::NoGradGuard ng;
    net.module().bn->running_mean.fill_(double(r + 1));
    net.module().bn->running_var.fill_(double(4 * r));
  }
  average_buffers(*comm, net);
  EXPECT_TRUE(torch::equal(net.module().bn->running_mean, torch::full({3}, 2.0f)));
  EXPECT_TRUE(torch::equal(net.module().bn->running_var, torch::full({3}, 4.0f)));
}

TEST(DataParallel, BroadcastAndAverage) {
  const auto dir = temp_dir("dp_bcast");
  auto cs = run_ranks("DistChild.BroadcastAndAverage", "bcast", 3, dir, {{"CL_TEST_OUT", dir}});
  for (const auto& c : cs) ASSERT_EQ(c.status, 0) << describe(cs);
  TinyNet rank0(3, true, 3, 100), rank1(3, true, 3, 101);
  const auto expect = flat_parameters(rank0);
  ASSERT_FALSE(torch::equal(expect, flat_parameters(rank1)));  // the ranks did start apart
  for (int r = 0; r < 3; ++r) EXPECT_TRUE(torch::equal(read_npy(dir + "/params-" + std::to_string(r) + ".npy"), expect));
}

// The real CLI: `closerlook train` with WORLD_SIZE=2 in the environment trains data-parallel.
TEST(DataParallel, CliTrainRunsDataParallelFromTheEnvironment) {
  const std::string exe = CL_BINARY_DIR "/closerlook";
  if (!fs::exists(exe)) GTEST_SKIP() << exe << " not built";
  const auto dir = temp_dir("dp_cli");
  const auto config = write_config(dir);
  const std::string single = single_process_run(dir, config);
  const std::string dist = dir + "/cli";
  const int port = free_port();
  std::vector<Child> cs;
  for (int r = 0; r < 2; ++r) {
    auto env = rank_env("cli", r, 2, port);
    cs.push_back(spawn(exe, {"train", "--config", config, "--out", dist, "--threads", "1"}, env,
                       dir + "/cli" + std::to_string(r) + ".log"));
  }
  wait_all(cs, 120);
  for (const auto& c : cs) ASSERT_EQ(c.status, 0) << describe(cs);
  EXPECT_LT(rel_diff(final_weights(dist), final_weights(single)), 2e-5);
  EXPECT_NE(slurp(cs[0].log).find("completed 3 epochs"), std::string::npos) << describe(cs);
  EXPECT_EQ(slurp(cs[1].log).find("completed 3 epochs"), std::string::npos) << "only rank 0 reports";
}
