// The cost of a plan before it runs (studies/plan_cost.h): the JSON of --list --json, the free
// space check, the paper preset's budget, and the smoke estimate against what a run writes.
#include <gtest/gtest.h>

#include <filesystem>

#include "../common/cli.h"
#include "../common/require.h"
#include "core/error.h"
#include "core/json_io.h"
#include "studies/plan_cost.h"
#include "studies/reproduce.h"

using namespace closerlook;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("cl_cost_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}

PlanCost cost_of(const std::string& preset, const std::string& out, KeepPolicy keep, bool controls = false,
                 std::vector<std::string> studies = {}) {
  ReproduceConfig cfg = load_reproduce_config(std::string(CL_SOURCE_DIR) + "/configs/presets/" + preset + ".toml", {});
  if (!studies.empty()) cfg.studies = studies;
  ReproduceOptions ro;
  ro.out_dir = out;
  ro.controls = controls;
  Plan plan = build_reproduce_plan(cfg, ro);
  CostOptions co;
  co.keep = keep;
  co.calibrate = false;
  return estimate_plan_cost(plan, cfg, co);
}

double folder_bytes(const std::string& dir) {
  double n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) n += double(e.file_size());
  return n;
}

}  // namespace

TEST(PlanCost, JsonHasStepsAndTotalsAndEveryStepAKind) {
  const PlanCost c = cost_of("smoke", fresh_dir("json"), KeepPolicy::Needed, true);
  const auto j = c.to_json();
  ASSERT_TRUE(j["steps"].is_array());
  ASSERT_EQ(j["steps"].size(), c.steps.size());
  for (const char* k : {"disk_bytes", "host_memory_bytes", "device_memory_bytes", "seconds"}) {
    ASSERT_TRUE(j["total"].contains(k)) << k;
    EXPECT_TRUE(j["total"][k].is_number()) << k;
  }
  EXPECT_GT(j["total"]["disk_bytes"].get<double>(), 0);
  EXPECT_GT(j["total"]["host_memory_bytes"].get<double>(), 0);
  EXPECT_GT(j["total"]["seconds"].get<double>(), 0);
  for (const auto& s : j["steps"]) {
    for (const char* k : {"index", "id", "kind", "wave", "deps", "disk_bytes", "host_memory_bytes",
                          "device_memory_bytes", "seconds"})
      EXPECT_TRUE(s.contains(k)) << s["id"] << k;
    // Training, curve, line, plane and capture steps are recognised (not costed as an analysis).
    const std::string id = s["id"], kind = s["kind"];
    if (id.find("/train-") != std::string::npos || id.find("-train-") != std::string::npos) EXPECT_EQ(kind, "train") << id;
    if (id.find("/curve-") != std::string::npos) EXPECT_EQ(kind, "curve") << id;
    if (id.find("line-") != std::string::npos) EXPECT_EQ(kind, "line") << id;
    if (id.find("acts") != std::string::npos) EXPECT_EQ(kind, "activations") << id;
    for (const auto& d : s["deps"]) {
      // A step's wave is after every dependency's.
      for (const auto& t : j["steps"])
        if (t["id"] == d) EXPECT_LT(t["wave"].get<int>(), s["wave"].get<int>()) << id;
    }
  }
  // Keeping everything costs more disk than keeping what is read.
  EXPECT_GT(cost_of("smoke", fresh_dir("json"), KeepPolicy::All).disk_bytes,
            1.2 * cost_of("smoke", fresh_dir("json"), KeepPolicy::Needed).disk_bytes);
}

TEST(PlanCost, FreeSpaceCheckFiresNamingTheFix) {
  const PlanCost c = cost_of("smoke", fresh_dir("free"), KeepPolicy::All);
  EXPECT_NO_THROW(check_disk_fits(c, 10 * c.disk_bytes, "out"));
  try {
    check_disk_fits(c, 0.5 * c.disk_bytes, "out");
    FAIL() << "no error with half the space the plan needs";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_NE(m.find("--keep"), std::string::npos) << m;
  }
  const PlanCost n = cost_of("smoke", fresh_dir("free"), KeepPolicy::Needed);
  try {
    check_disk_fits(n, 0.1 * n.disk_bytes, "out");
    FAIL() << "no error with a tenth of the space";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("the largest step is "), std::string::npos) << m;
  }
  EXPECT_GT(free_disk_bytes(fs::temp_directory_path().string()), 0);
}

TEST(PlanCost, CliRefusesARunThatDoesNotFitBeforeAnyWork) {
  CL_REQUIRE_OR_SKIP(fs::exists(closerlook::testing::closerlook_binary()), "closerlook is not built");
  const std::string out = fresh_dir("cli");
  const std::string env = "CLOSERLOOK_FREE_DISK_BYTES=1000 ";
  const std::string cmd = env + closerlook::testing::closerlook_binary() + " reproduce --preset smoke --no-report --quiet --out " +
                          fresh_dir("cli2") + " > " + out + ".log 2>&1";
  const int status = std::system(cmd.c_str());
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_FALSE(fs::exists(fresh_dir("cli2") + "/steps")) << "work started";
  auto [lrc, listing] = closerlook::testing::run_closerlook("reproduce --preset smoke --list --json --out " + out);
  ASSERT_EQ(lrc, 0) << listing;
  const auto j = nlohmann::json::parse(listing.substr(listing.find('{')));
  EXPECT_EQ(j["timing"], "calibrated");
  EXPECT_TRUE(fs::exists(out + "/plan-calibration.json"));
  fs::remove_all(out);
}

// The budget: the paper preset under the default keep policy fits one GPU machine's disk
// and memory (docs/studies.md, "Cost of a plan").
TEST(PlanCost, PaperPresetFitsTheBudget) {
  const PlanCost c = cost_of("paper", fresh_dir("paper"), KeepPolicy::Needed);
  EXPECT_LE(c.disk_bytes, 50e9);
  EXPECT_LE(c.host_memory_bytes, 64e9);
  const PlanCost k = cost_of("paper", fresh_dir("paper"), KeepPolicy::All);
  EXPECT_GT(k.disk_bytes, c.disk_bytes);
}
