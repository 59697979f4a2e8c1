// End to end: `closerlook reproduce --preset smoke` on tiny synthetic data, its outputs, its
// resumption after SIGKILL, and that a finished plan reruns nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/json_io.h"

namespace fs = std::filesystem;
using namespace closerlook;

namespace {

const std::string kBin = std::string(CL_BINARY_DIR) + "/closerlook";

std::string fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("cl_repro_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}

struct RunResult {
  int code;
  std::string out;
};

RunResult run(const std::string& args) {
  const std::string log = fs::temp_directory_path() / ("cl_repro_log_" + std::to_string(::getpid()));
  int status = std::system((kBin + " " + args + " --threads 2 > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ss.str()};
}

int count_done(const std::string& root) {
  int n = 0;
  if (!fs::exists(root + "/steps")) return 0;
  for (const auto& e : fs::recursive_directory_iterator(root + "/steps"))
    if (e.path().filename() == "DONE") ++n;
  return n;
}

}  // namespace

TEST(ReproduceSmoke, RunsEveryStudyAndWritesClaimsFiguresAndReport) {
  const std::string out = fresh_dir("full");
  RunResult r = run("reproduce --preset smoke --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;

  // Claims: every study is represented, every verdict is one of the three words, with numbers.
  auto summary = read_json(out + "/summary.json");
  ASSERT_TRUE(summary.contains("claims"));
  std::set<std::string> studies;
  for (const auto& c : summary["claims"]) {
    studies.insert(c["study"].get<std::string>());
    const std::string v = c["verdict"];
    EXPECT_TRUE(v == "held" || v == "not held" || v == "inconclusive") << v;
    EXPECT_FALSE(c["numbers"].empty());
  }
  EXPECT_EQ(studies, (std::set<std::string>{"sgdr", "resilience", "warmup", "distill"}));
  EXPECT_NE(r.out.find("Claims"), std::string::npos);

  // Figures of every study, each with its CSV; the report inlines them.
  std::set<std::string> figure_studies;
  int figures = 0;
  for (const auto& e : fs::directory_iterator(out + "/figures")) {
    if (e.path().extension() != ".json") continue;
    ++figures;
    auto f = read_json(e.path().string());
    figure_studies.insert(f["study"].get<std::string>());
    EXPECT_TRUE(fs::exists(fs::path(e.path()).replace_extension(".csv"))) << e.path();
  }
  EXPECT_GE(figures, 12);
  EXPECT_EQ(figure_studies, (std::set<std::string>{"sgdr", "resilience", "warmup", "distill"}));
  ASSERT_TRUE(fs::exists(out + "/report.html"));
  EXPECT_GT(fs::file_size(out + "/report.html"), 100000u);

  // Artifacts the figures were drawn from.
  EXPECT_TRUE(fs::exists(out + "/steps/sgdr/plane/plane/tr_loss.npy"));
  EXPECT_TRUE(fs::exists(out + "/steps/sgdr/curve-w1-w3/curve.json"));
  EXPECT_TRUE(fs::exists(out + "/steps/resilience/curve-G-A/curve.csv"));
  EXPECT_TRUE(fs::exists(out + "/steps/distill/train-teacher/run/checkpoints/final.pt"));

  // A finished plan reruns nothing.
  const int done = count_done(out);
  RunResult again = run("reproduce --preset smoke --quiet --out " + out);
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("0 step(s) run"), std::string::npos) << again.out;
  EXPECT_EQ(count_done(out), done);

  RunResult list = run("reproduce --preset smoke --list --out " + out);
  ASSERT_EQ(list.code, 0);
  EXPECT_EQ(list.out.find("[todo]"), std::string::npos) << list.out;
}

TEST(ReproduceSmoke, KilledRunResumesWithoutRedoingFinishedSteps) {
  const std::string out = fresh_dir("kill");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string log = out + ".log";
    freopen(log.c_str(), "w", stderr);
    execl(kBin.c_str(), kBin.c_str(), "reproduce", "--preset", "smoke", "--study", "sgdr", "--quiet", "--no-report",
          "--threads", "2", "--out", out.c_str(), (char*)nullptr);
    _exit(127);
  }
  // Wait until a few steps are finished, then kill without warning.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (count_done(out) < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const int done_before = count_done(out);
  ASSERT_GE(done_before, 3);
  std::map<std::string, fs::file_time_type> stamps;
  for (const auto& e : fs::recursive_directory_iterator(out + "/steps"))
    if (e.path().filename() == "DONE") stamps[e.path().string()] = fs::last_write_time(e.path());

  RunResult r = run("reproduce --preset smoke --study sgdr --quiet --no-report --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const auto& [path, t] : stamps) EXPECT_EQ(fs::last_write_time(path), t) << path << " was redone";
  EXPECT_GT(count_done(out), done_before);
  size_t skipped = 0;
  for (size_t p = r.out.find("done (skipped)"); p != std::string::npos; p = r.out.find("done (skipped)", p + 1)) ++skipped;
  EXPECT_EQ(skipped, stamps.size());
}
