// The real `closerlook train` binary: SIGKILL + rerun resumes to bit-identical weights,
// divergence exits with code 4, bad configs exit with code 2 naming the key, reruns of finished
// runs do nothing, and a folder of another config is refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/json_io.h"
#include "../common/tiny_net.h"
#include "train/run_dir.h"

using namespace closerlook;
using namespace closerlook::testing;
namespace fs = std::filesystem;

namespace {

const std::string kBinary = CL_BINARY_DIR "/closerlook";

// Small VGG with BN and dropout on synthetic 32x32 data: ~8 iterations per epoch.
const char* kConfig = R"(seed = 3
[data]
dataset = "synthetic"
synthetic_train = 256
synthetic_test = 64
synthetic_size = 32
synthetic_classes = 4
augment = true
[model]
family = "vgg"
layout = "vgg11"
width = 0.125
batchnorm = true
fc_hidden = [16]
dropout = 0.3
[train]
epochs = 8
batch_size = 32
lr = 0.05
schedule = "cosine"
warmup_iters = 5
eval_train_subset = 128
checkpoint_epochs = [2]
)";

struct Result {
  int code;
  std::string output;
};

Result run(const std::string& args) {
  const std::string cmd = kBinary + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  Result r{-1, ""};
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string write_config(const std::string& dir) {
  fs::create_directories(dir);
  const std::string path = dir + "/run.toml";
  std::ofstream(path) << kConfig;
  return path;
}

std::vector<NamedTensor> final_weights(const std::string& run_dir) {
  auto net = load_network(checkpoint_path(run_dir, "final"), torch::kCPU);
  auto all = net->named_parameters();
  for (auto& b : net->named_buffers()) all.push_back(b);
  return all;
}

class TrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(file_exists(kBinary)) << kBinary << " is not built (build the closerlook target before test_train)";
    root_ = fresh_dir("cli");
    config_ = write_config(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string root_, config_;
};

}  // namespace

TEST_F(TrainCli, SigkillThenRerunEndsWithIdenticalWeights) {
  const std::string a = root_ + "/a", b = root_ + "/b";
  auto ra = run("train --config " + config_ + " --out " + a + " --threads 1 --quiet");
  ASSERT_EQ(ra.code, 0) << ra.output;

  // Start b, SIGKILL it as soon as its first rolling checkpoint exists.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    ::execl(kBinary.c_str(), kBinary.c_str(), "train", "--config", config_.c_str(), "--out", b.c_str(), "--threads",
            "1", "--quiet", (char*)nullptr);
    ::_exit(127);
  }
  const std::string last = b + "/checkpoints/last.state.pt";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!file_exists(last) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFSIGNALED(st)) << "the run finished before it could be killed";
  ASSERT_TRUE(file_exists(last));
  ASSERT_FALSE(file_exists(b + "/summary.json"));

  auto rb = run("train --config " + config_ + " --out " + b + " --threads 1");
  ASSERT_EQ(rb.code, 0) << rb.output;
  EXPECT_NE(rb.output.find("resuming"), std::string::npos) << rb.output;
  EXPECT_TRUE(same_tensors(final_weights(a), final_weights(b)));
  auto ma = read_jsonl(a + "/metrics.jsonl"), mb = read_jsonl(b + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), 8u);
  ASSERT_EQ(mb.size(), 8u);
  for (size_t i = 0; i < ma.size(); ++i) {
    EXPECT_EQ(mb[i]["epoch"], int(i + 1));
    EXPECT_EQ(ma[i]["test_loss"], mb[i]["test_loss"]);
  }
  auto cfg = read_json(b + "/config.json");
  for (const char* k : {"config", "model_spec", "runtime", "config_hash"}) EXPECT_TRUE(cfg.contains(k)) << k;
  auto sum = read_json(b + "/summary.json");
  EXPECT_EQ(sum["status"], "completed");
  EXPECT_EQ(sum["config_hash"], cfg["config_hash"]);

  // A rerun of a completed run does nothing; a different config in the same folder is refused.
  auto again = run("train --config " + config_ + " --out " + b + " --threads 1");
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("nothing to do"), std::string::npos) << again.output;
  auto other = run("train --config " + config_ + " --set train.lr=0.01 --out " + b + " --threads 1");
  EXPECT_EQ(other.code, 2) << other.output;
  EXPECT_NE(other.output.find("another config"), std::string::npos) << other.output;
}

TEST_F(TrainCli, DivergenceExitsWithCode4) {
  const std::string d = root_ + "/div";
  auto r = run("train --config " + config_ + " --set train.lr=1e6 --set model.batchnorm=false --out " + d +
               " --threads 1 --quiet");
  EXPECT_EQ(r.code, 4) << r.output;
  EXPECT_NE(r.output.find("diverged"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("terminate"), std::string::npos) << r.output;
  EXPECT_EQ(read_json(d + "/summary.json")["status"], "diverged");
  // Rerunning reports the recorded divergence again without training.
  EXPECT_EQ(run("train --config " + config_ + " --set train.lr=1e6 --set model.batchnorm=false --out " + d +
                " --threads 1 --quiet")
                .code,
            4);
}

TEST_F(TrainCli, BadConfigExitsWithCode2NamingTheKey) {
  struct Case {
    std::string set, must_mention;
  };
  for (const auto& c : std::vector<Case>{{"train.epochz=3", "train.epochz"},
                                         {"train.lr=fast", "train.lr"},
                                         {"train.momentum=2.0", "train.momentum"},
                                         {"model.widht=1.0", "model.widht"},
                                         {"train.schedule=triangle", "train.schedule"}}) {
    const std::string d = root_ + "/bad";
    auto r = run("train --config " + config_ + " --set " + c.set + " --out " + d + " --threads 1 --quiet");
    EXPECT_EQ(r.code, 2) << c.set << ": " << r.output;
    EXPECT_NE(r.output.find(c.must_mention), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("run.toml"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(d + "/config.json")) << "a rejected config left a run folder behind";
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << "not a one-line error: " << r.output;
  }
}
