// The job array of docs/distributed.md, end to end: the smoke preset's SGDR study run as single
// steps (`reproduce --step K`), one process per step, the steps of one dependency wave (from
// `--list --json`) in parallel, then a final process that assembles summary.json. Its claims
// equal those of one process running the whole plan. Once for the SGDR study alone (fast, in the
// unit label) and once for the whole smoke preset (every study; a few minutes on two cores).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "../common/cli.h"
#include "../common/require.h"
#include "core/json_io.h"

using namespace closerlook;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("cl_array_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}

// Runs the plan of `kArgs` once in one process and once as waves of single-step processes, and
// compares the two summaries.
void expect_array_equals_one_process(const std::string& kArgs, const std::string& tag) {
  const std::string one = fresh_dir(tag + "_one"), arr = fresh_dir(tag + "_array");
  auto [rc, log] = closerlook::testing::run_closerlook("reproduce" + kArgs + " --out " + one);
  ASSERT_EQ(rc, 0) << log;

  auto [lrc, listing] = closerlook::testing::run_closerlook("reproduce" + kArgs + " --list --json --no-calibrate --out " + arr);
  ASSERT_EQ(lrc, 0) << listing;
  const auto plan = nlohmann::json::parse(listing.substr(listing.find('{')));
  std::map<int, std::vector<int>> waves;  // wave -> step indices (all but the summary)
  for (const auto& s : plan["steps"])
    if (s["id"] != "summary") waves[s["wave"].get<int>()].push_back(s["index"].get<int>());
  ASSERT_GE(waves.size(), 3u);
  for (const auto& [w, steps] : waves) {
    std::vector<std::pair<int, pid_t>> pids;
    for (int k : steps) {
      pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        // The step index comes in as a SLURM array task gets it (--step K does the same).
        const std::string cmd = "SLURM_ARRAY_TASK_ID=" + std::to_string(k) + " " +
                                closerlook::testing::closerlook_binary() + " reproduce" + kArgs + " --out " + arr +
                                " > " + arr + "-step" + std::to_string(k) + ".log 2>&1";
        _exit(std::system(cmd.c_str()) == 0 ? 0 : 1);
      }
      pids.push_back({k, pid});
    }
    for (const auto& [k, pid] : pids) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wave " << w << " step " << k << ": see " << arr
                                                                 << "-step" << k << ".log";
    }
  }
  EXPECT_FALSE(fs::exists(arr + "/summary.json")) << "the summary was assembled before the final process";
  auto [frc, final_log] = closerlook::testing::run_closerlook("reproduce" + kArgs + " --out " + arr);
  ASSERT_EQ(frc, 0) << final_log;
  EXPECT_NE(final_log.find("1 step(s) run"), std::string::npos) << final_log;

  // Same claims, verdicts, reasons and numbers (timings and run metadata aside).
  const auto a = read_json(one + "/summary.json"), b = read_json(arr + "/summary.json");
  ASSERT_EQ(a["checks"].size(), b["checks"].size());
  ASSERT_GT(a["checks"].size(), 0u);
  for (size_t i = 0; i < a["checks"].size(); ++i) EXPECT_EQ(a["checks"][i], b["checks"][i]) << a["checks"][i]["id"];
  EXPECT_EQ(a["claims"], b["claims"]);
  EXPECT_EQ(a["config_hash"], b["config_hash"]);
  fs::remove_all(one);
  fs::remove_all(arr);
}

}  // namespace

TEST(JobArray, WavesOfSingleStepsGiveTheSummaryOfOneProcess) {
  CL_REQUIRE_OR_SKIP(fs::exists(closerlook::testing::closerlook_binary()), "closerlook is not built");
  expect_array_equals_one_process(" --preset smoke --study sgdr --no-report --quiet --threads 2", "sgdr");
}

TEST(JobArray, TheWholeSmokePresetAsAnArrayGivesTheSummaryOfOneProcess) {
  CL_REQUIRE_OR_SKIP(fs::exists(closerlook::testing::closerlook_binary()), "closerlook is not built");
  expect_array_equals_one_process(" --preset smoke --controls --no-report --quiet --threads 1", "all");
}
