// Fault injection: nothing already computed may be lost. SIGKILL in the middle of checkpoint
// writes leaves a loadable checkpoint; an unwritable output folder is a clear error with its own
// exit code; a diverging run is recorded and the pipeline carries on with the other steps.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "models/factory.h"

namespace fs = std::filesystem;
using namespace closerlook;

namespace {
const std::string kBin = std::string(CL_BINARY_DIR) + "/closerlook";

std::string fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("cl_faults_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

std::pair<int, std::string> run(const std::string& args) {
  const std::string log = fs::temp_directory_path() / ("cl_faults_log_" + std::to_string(::getpid()));
  int status = std::system((kBin + " " + args + " > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ss.str()};
}

ModelSpec small_spec() {
  ModelSpec s;
  s.width = 0.25;
  s.fc_hidden = {64};
  return s;
}
}  // namespace

// The parameters and buffers of a network, flattened in registration order.
static torch::Tensor flat_state(Network& net) {
  std::vector<torch::Tensor> parts;
  for (auto& p : net.named_parameters()) parts.push_back(p.second.detach().flatten().to(torch::kFloat64));
  for (auto& b : net.named_buffers()) parts.push_back(b.second.detach().flatten().to(torch::kFloat64));
  return torch::cat(parts);
}

TEST(Faults, SigkillDuringCheckpointWritesLeavesExactlyTheOldOrTheNewWeights) {
  const std::string dir = fresh_dir("ckpt");
  const std::string path = dir + "/model.pt";
  auto net = build_model(small_spec(), 1);
  net->save(path);  // the checkpoint that must survive
  int old_seen = 0, new_seen = 0;
  for (int trial = 0; trial < 6; ++trial) {
    // What the file holds before this trial (the first save, or a write of an earlier trial).
    auto before = build_model(small_spec(), 7);
    before->load(path);
    const torch::Tensor old_state = flat_state(*before);
    const torch::Tensor new_state = flat_state(*build_model(small_spec(), 100 + trial));
    ASSERT_FALSE(torch::equal(old_state, new_state));
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto other = build_model(small_spec(), 100 + trial);
      for (;;) other->save(path);  // rewrite the same checkpoint until killed
    }
    // Trial 0 kills before the child's first write can finish (the file must still be the old
    // one); later trials kill mid-stream, when the file may be either.
    std::this_thread::sleep_for(std::chrono::milliseconds(trial == 0 ? 1 : 30 + 37 * trial));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    // Whatever instant the kill hit, the file is one complete checkpoint: exactly the old weights
    // or exactly the new ones, never a mixture or a torn file.
    auto check = build_model(small_spec(), 7);
    ASSERT_NO_THROW(check->load(path)) << "trial " << trial;
    const torch::Tensor got = flat_state(*check);
    const bool is_old = torch::equal(got, old_state), is_new = torch::equal(got, new_state);
    EXPECT_TRUE(is_old || is_new) << "trial " << trial << ": the loaded weights are neither the old nor the new ones";
    old_seen += is_old;
    new_seen += is_new;
  }
  // Both outcomes occur, so the comparison above can tell them apart.
  EXPECT_GT(new_seen, 0);
  EXPECT_GT(old_seen, 0);
}

TEST(Faults, AtomicWriteFailureKeepsThePreviousFile) {
  const std::string dir = fresh_dir("atomic");
  const std::string path = dir + "/result.json";
  write_json(path, {{"v", 1}});
  EXPECT_THROW(write_atomic_with(path, [](const std::string& tmp) {
                 std::ofstream(tmp) << "{\"v\": 2, \"half";
                 throw std::runtime_error("disk full (simulated)");
               }),
               Error);
  EXPECT_EQ(read_json(path)["v"], 1);
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().filename(), "result.json");  // no temp left
}

TEST(Faults, UnwritableOutputIsAClearIoError) {
  // A regular file where the output folder should be: mkdir fails even for root.
  const std::string dir = fresh_dir("unwritable");
  std::ofstream(dir + "/blocker") << "x";
  auto [code, out] = run("reproduce --preset smoke --study sgdr --quiet --no-report --threads 1 --out " + dir +
                         "/blocker/out");
  EXPECT_EQ(code, static_cast<int>(ExitCode::Io)) << out;
  EXPECT_NE(out.find("blocker"), std::string::npos) << out;
  EXPECT_NE(out.find("closerlook: error: "), std::string::npos) << out;
  EXPECT_EQ(out.find("internal error"), std::string::npos) << out;
}

TEST(Faults, DivergingRunIsRecordedAndThePipelineContinues) {
  const std::string out = fresh_dir("diverge") + "/run";
  // Mode B (Adam) with an absurd learning rate on a net without BN diverges; everything else
  // must still finish.
  auto [code, log] = run("reproduce --preset smoke --study resilience --quiet --no-report --threads 2 --set "
                         "'resilience.modes=[\"A\",\"B\"]' --set resilience.adam_lr=1e6 --set model.batchnorm=false --out " + out);
  ASSERT_EQ(code, 0) << log;
  auto b = read_json(out + "/steps/resilience/train-B/result.json");
  EXPECT_EQ(b["status"], "diverged");
  EXPECT_EQ(read_json(out + "/steps/resilience/curve-G-B/result.json")["status"], "skipped");
  EXPECT_EQ(read_json(out + "/steps/resilience/curve-G-A/result.json")["status"], "ok");
  auto summary = read_json(out + "/summary.json");
  ASSERT_EQ(summary["claims"].size(), 1u);
  EXPECT_EQ(summary["claims"][0]["verdict"], "inconclusive");
  EXPECT_EQ(summary["claims"][0]["numbers"]["B/status"], "missing or diverged");
}

TEST(Faults, FullDiskIsAClearIoErrorAndKeepsEarlierResults) {
  // A full disk, simulated with a file-size limit (ulimit -f; SIGXFSZ ignored, so a write past
  // the limit fails with EFBIG as a write to a full disk fails with ENOSPC): the first study's
  // finished results must survive a second study that runs out of space, and a rerun with space
  // again finishes without redoing the first study.
  const std::string out = fresh_dir("diskfull") + "/run";
  const std::string common = "reproduce --preset smoke --quiet --no-report --threads 2 --out " + out;
  auto [code1, log1] = run(common + " --study warmup");
  ASSERT_EQ(code1, 0) << log1;
  std::vector<std::pair<std::string, std::string>> before;  // every finished file and its bytes
  for (const auto& e : fs::recursive_directory_iterator(out + "/steps/warmup"))
    if (e.is_regular_file()) {
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      before.emplace_back(e.path().string(), ss.str());
    }
  ASSERT_FALSE(before.empty());

  // 4 KiB per file: configs and logs fit, the first checkpoint of the next study does not.
  const std::string limited = "bash -c \"trap '' XFSZ; ulimit -f 4; exec " + kBin + " " + common + " --study sgdr\"";
  const std::string log = fs::temp_directory_path() / ("cl_faults_log_full_" + std::to_string(::getpid()));
  const int status = std::system((limited + " > " + log + " 2>&1").c_str());
  std::ifstream lin(log);
  std::stringstream lss;
  lss << lin.rdbuf();
  const std::string out2 = lss.str();
  ASSERT_TRUE(WIFEXITED(status)) << out2;
  EXPECT_EQ(WEXITSTATUS(status), static_cast<int>(ExitCode::Io)) << out2;
  EXPECT_NE(out2.find("closerlook: error: "), std::string::npos) << out2;
  EXPECT_NE(out2.find(".pt"), std::string::npos) << "the message names the file: " << out2;
  EXPECT_EQ(out2.find("internal error"), std::string::npos) << out2;

  for (const auto& [path, bytes] : before) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(ss.str(), bytes) << path << " changed or vanished";
  }
  // No temp file is left behind by the failed writes.
  for (const auto& e : fs::recursive_directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();

  auto [code3, log3] = run(common + " --study sgdr");
  ASSERT_EQ(code3, 0) << log3;
  auto [code4, log4] = run(common + " --study warmup --list");
  EXPECT_EQ(code4, 0) << log4;
}
