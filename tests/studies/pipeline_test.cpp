#include <gtest/gtest.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "studies/pipeline.h"

using namespace closerlook;
namespace fs = std::filesystem;

namespace {
std::string fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("cl_pipeline_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}

// A two-step plan whose steps count their executions in a shared log.
Plan make_plan(const std::string& root, int a_value, std::vector<std::string>& log) {
  Plan plan(root);
  plan.add({"s/a", "s", "write a", {}, {{"value", a_value}}, [&log](StepContext& c) {
              log.push_back("a");
              write_json(c.dir + "/a.json", {{"v", c.step->inputs["value"]}});
            }});
  plan.add({"s/b", "s", "read a", {"s/a"}, {{"k", 1}}, [&log](StepContext& c) {
              log.push_back("b");
              auto a = read_json(c.dep("s/a") + "/a.json");
              write_json(c.dir + "/b.json", {{"v", a["v"].get<int>() * 2}});
            }});
  plan.add({"t/c", "t", "independent", {}, {{"k", 2}}, [&log](StepContext&) { log.push_back("c"); }});
  return plan;
}
}  // namespace

TEST(Pipeline, RunsInOrderAndSkipsFinishedSteps) {
  const std::string root = fresh_dir("order");
  std::vector<std::string> log;
  Plan plan = make_plan(root, 3, log);
  EXPECT_EQ(plan.run({}), 3);
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(read_json(root + "/steps/s/b/b.json")["v"], 6);
  EXPECT_EQ(plan.run({}), 0);  // everything done
  EXPECT_EQ(log.size(), 3u);
  EXPECT_NE(plan.describe().find("[done]"), std::string::npos);
}

TEST(Pipeline, ChangedInputRerunsTheStepAndItsDependentsOnly) {
  const std::string root = fresh_dir("rehash");
  std::vector<std::string> log;
  make_plan(root, 3, log).run({});
  log.clear();
  Plan changed = make_plan(root, 5, log);
  EXPECT_FALSE(changed.is_done("s/a"));
  EXPECT_FALSE(changed.is_done("s/b"));
  EXPECT_TRUE(changed.is_done("t/c"));
  EXPECT_EQ(changed.run({}), 2);
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(read_json(root + "/steps/s/b/b.json")["v"], 10);
  EXPECT_TRUE(fs::exists(root + "/steps/s/a.old-" + make_plan(root, 3, log).hash_of("s/a")));
}

TEST(Pipeline, InterruptedStepIsRedone) {
  const std::string root = fresh_dir("interrupt");
  std::vector<std::string> log;
  Plan plan(root);
  int calls = 0;
  plan.add({"x/a", "x", "fails once", {}, {}, [&](StepContext&) {
              if (calls++ == 0) throw Error(ExitCode::Io, "simulated crash");
            }});
  EXPECT_THROW(plan.run({}), Error);
  EXPECT_FALSE(plan.is_done("x/a"));
  EXPECT_EQ(plan.run({}), 1);
  EXPECT_TRUE(plan.is_done("x/a"));
}

TEST(Pipeline, SelectsByStudyAndByStepIndex) {
  const std::string root = fresh_dir("select");
  std::vector<std::string> log;
  Plan plan = make_plan(root, 1, log);
  PlanRunOptions only_t;
  only_t.study = "t";
  EXPECT_EQ(plan.run(only_t), 1);
  EXPECT_EQ(log, (std::vector<std::string>{"c"}));
  PlanRunOptions step2;
  step2.step_index = 2;  // s/b needs s/a first
  EXPECT_THROW(plan.run(step2), Error);
  PlanRunOptions step1;
  step1.step_index = 1;
  EXPECT_EQ(plan.run(step1), 1);
  EXPECT_EQ(plan.run(step2), 1);
  PlanRunOptions bad;
  bad.step_index = 9;
  EXPECT_THROW(plan.run(bad), Error);
  PlanRunOptions nostudy;
  nostudy.study = "nope";
  EXPECT_THROW(plan.run(nostudy), Error);
}
