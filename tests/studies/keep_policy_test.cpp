// The keep policy (studies/pipeline.h KeepPolicy): each step declares the checkpoints it reads of
// its dependencies' runs; under the default only those (and each run's final one) are written and
// kept, and resume-only files go once a step is done; `--keep all` keeps everything; a finished,
// pruned plan reruns nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "../common/cli.h"
#include "../common/require.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "studies/pipeline.h"
#include "studies/plan_cost.h"
#include "studies/reproduce.h"
#include "studies/steps.h"
#include "train/train_config.h"

using namespace closerlook;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("cl_keep_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}

std::set<std::string> files_in(const std::string& dir) {
  std::set<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// A plan whose "run" step writes a run folder's checkpoints like a training run does, and a
// reader that declares (and reads) two of them.
Plan fake_plan(const std::string& root) {
  Plan plan(root);
  plan.add({"s/run", "s", "fake training run", {}, {{"k", 1}}, [](StepContext& c) {
              const std::string ck = c.dir + "/run/checkpoints";
              make_dirs(ck);
              nlohmann::json listed = nlohmann::json::array();
              for (const char* tag : {"init", "epoch-1", "epoch-2", "epoch-3", "final", "last"}) {
                write_json(ck + "/" + tag + ".pt", {{"tag", tag}});
                write_json(ck + "/" + tag + ".state.pt", {{"tag", tag}});
                listed.push_back({{"tag", tag}, {"path", std::string("checkpoints/") + tag + ".pt"}});
              }
              // As a training run's summary.json lists them (train_loop.cpp).
              write_json(c.dir + "/run/summary.json", {{"config_hash", "abc"}, {"checkpoints", listed}});
              make_dirs(c.dir + "/curve/checkpoints");
              write_json(c.dir + "/curve/bends.npy", {{"bends", 3}});
              write_json(c.dir + "/curve/checkpoints/last.state.pt", {{"x", 1}});
              write_json(c.dir + "/curve/checkpoints/bend-1.pt", {{"x", 1}});
            }});
  plan.add({"s/reader", "s", "reads two epochs", {"s/run"}, {{"k", 2}}, [](StepContext& c) {
              for (const char* tag : {"epoch-1", "epoch-3"})
                ASSERT_TRUE(file_exists(c.dep("s/run") + "/run/checkpoints/" + tag + ".pt")) << tag;
            }});
  plan.reads("s/reader", "s/run", {"epoch-1", "epoch-3"});
  return plan;
}

}  // namespace

TEST(KeepPolicy, KeepSetIsTheDeclaredReadsAndFinal) {
  Plan plan = fake_plan(fresh_dir("set"));
  EXPECT_EQ(plan.keep_set("s/run"), (std::set<std::string>{"epoch-1", "epoch-3", "final"}));
  EXPECT_EQ(plan.keep_set("s/reader"), (std::set<std::string>{"final"}));
  EXPECT_EQ(plan.reads_of("s/reader").size(), 2u);
  EXPECT_EQ(plan.wave_of("s/run"), 1);
  EXPECT_EQ(plan.wave_of("s/reader"), 2);
  // A read of a step that is not a dependency is a programming error, caught when declared.
  plan.add({"s/other", "s", "", {}, {{"k", 3}}, [](StepContext&) {}});
  EXPECT_THROW(plan.reads("s/other", "s/run", {"final"}), Error);
  EXPECT_EQ(parse_keep_policy("all"), KeepPolicy::All);
  EXPECT_THROW(parse_keep_policy("some"), Error);
}

TEST(KeepPolicy, NeededPrunesUndeclaredCheckpointsAndResumeStates) {
  const std::string root = fresh_dir("needed");
  Plan plan = fake_plan(root);
  PlanRunOptions po;
  EXPECT_EQ(plan.run(po), 2);
  EXPECT_EQ(files_in(root + "/steps/s/run/run/checkpoints"),
            (std::set<std::string>{"epoch-1.pt", "epoch-3.pt", "final.pt"}));
  EXPECT_EQ(files_in(root + "/steps/s/run/curve/checkpoints"), std::set<std::string>{});
  EXPECT_TRUE(file_exists(root + "/steps/s/run/curve/bends.npy"));
  // The run's summary.json lists only what is still there, and names what was pruned.
  const auto summary = read_json(root + "/steps/s/run/run/summary.json");
  std::set<std::string> listed, pruned;
  for (const auto& c : summary["checkpoints"]) listed.insert(c["tag"].get<std::string>());
  for (const auto& t : summary["pruned_checkpoints"]) pruned.insert(t.get<std::string>());
  EXPECT_EQ(listed, (std::set<std::string>{"epoch-1", "epoch-3", "final"}));
  EXPECT_EQ(pruned, (std::set<std::string>{"init", "epoch-2", "last"}));
  EXPECT_EQ(summary.value("config_hash", ""), "abc");  // the job-folder hash survives the rewrite
  // Pruned, still done: a rerun skips both steps.
  EXPECT_TRUE(plan.is_done("s/run"));
  EXPECT_EQ(plan.run(po), 0);
}

TEST(KeepPolicy, AllKeepsEverythingAndALaterDefaultRunPrunesFinishedSteps) {
  const std::string root = fresh_dir("all");
  Plan plan = fake_plan(root);
  PlanRunOptions po;
  po.keep = KeepPolicy::All;
  EXPECT_EQ(plan.run(po), 2);
  EXPECT_EQ(files_in(root + "/steps/s/run/run/checkpoints").size(), 12u);
  EXPECT_EQ(files_in(root + "/steps/s/run/curve/checkpoints").size(), 2u);
  po.keep = KeepPolicy::Needed;
  EXPECT_EQ(plan.run(po), 0);  // nothing reruns, the finished folders are brought to the policy
  EXPECT_EQ(files_in(root + "/steps/s/run/run/checkpoints"),
            (std::set<std::string>{"epoch-1.pt", "epoch-3.pt", "final.pt"}));
}

TEST(KeepPolicy, ApplyKeepWritesOnlyKeptTags) {
  TrainSpec t;
  t.epochs = 5;
  t.checkpoint_every = 1;
  t.checkpoint_epochs = {2};
  t.checkpoint_iters = {7, 9};
  t.schedule = "sgdr";
  t.sgdr_t0 = 1;
  t.sgdr_tmult = 2;
  t.checkpoint_sgdr_cycles = true;
  const auto all = written_checkpoint_tags(t);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()),
            (std::set<std::string>{"init", "iter-7", "iter-9", "epoch-1", "epoch-2", "epoch-3", "epoch-4", "epoch-5",
                                   "sgdr-cycle-1", "sgdr-cycle-2", "final"}));
  TrainSpec k = t;
  apply_keep(k, {"epoch-3", "iter-9", "final"});
  const auto kept = written_checkpoint_tags(k);
  EXPECT_EQ(std::set<std::string>(kept.begin(), kept.end()),
            (std::set<std::string>{"init", "iter-9", "epoch-3", "final"}));
  TrainSpec c = t;
  apply_keep(c, {"sgdr-cycle-2"});
  const auto cyc = written_checkpoint_tags(c);
  EXPECT_EQ(std::set<std::string>(cyc.begin(), cyc.end()),
            (std::set<std::string>{"init", "sgdr-cycle-1", "sgdr-cycle-2", "final"}));
}

// Smoke preset, one study end to end: the epoch files left in every run folder are exactly the
// declared keep set (plus "init" where a reader asked for it); --keep all keeps every checkpoint
// the configs ask for with its state; a second run skips every step.
TEST(KeepPolicy, SmokeRunLeavesExactlyTheKeepSet) {
  CL_REQUIRE_OR_SKIP(fs::exists(closerlook::testing::closerlook_binary()), "closerlook is not built");
  const std::string out = fresh_dir("smoke"), all = fresh_dir("smoke_all");
  const std::string common = " --preset smoke --study sgdr --no-report --quiet --threads 2";
  auto [rc, log] = closerlook::testing::run_closerlook("reproduce" + common + " --out " + out);
  ASSERT_EQ(rc, 0) << log;

  ReproduceConfig cfg = load_reproduce_config(std::string(CL_SOURCE_DIR) + "/configs/presets/smoke.toml", {});
  cfg.studies = {"sgdr"};
  ReproduceOptions ro;
  ro.out_dir = out;
  Plan plan = build_reproduce_plan(cfg, ro);
  int runs = 0;
  for (const auto& s : plan.steps()) {
    const std::string ck = plan.dir_of(s.id) + "/run/checkpoints";
    if (!fs::is_directory(ck)) continue;
    ++runs;
    std::set<std::string> want;
    for (const auto& tag : plan.keep_set(s.id)) want.insert(tag + ".pt");
    EXPECT_EQ(files_in(ck), want) << s.id;
  }
  EXPECT_EQ(runs, 3);  // SGDR, step-decay SGD and the independent-runs baseline (a second SGD run)
  // The plane read every SGDR epoch: they are kept (the declaration, not a guess).
  EXPECT_TRUE(file_exists(plan.dir_of("sgdr/train-sgdr") + "/run/checkpoints/epoch-2.pt"));
  EXPECT_FALSE(file_exists(plan.dir_of("sgdr/train-sgd") + "/run/checkpoints/epoch-2.pt"));

  // The disk estimate of the plan (studies/plan_cost.h) against what the run left.
  {
    CostOptions co;
    co.calibrate = false;
    ro.out_dir = fresh_dir("estimate");  // estimated as before the run (nothing done)
    const PlanCost est = estimate_plan_cost(build_reproduce_plan(cfg, ro), cfg, co);
    ro.out_dir = out;
    double written = 0;
    for (const auto& e : fs::recursive_directory_iterator(out + "/steps"))
      if (e.is_regular_file()) written += double(e.file_size());
    double residue = 0;
    for (const auto& c : est.steps) residue += c.disk_bytes;
    EXPECT_NEAR(residue, written, 0.25 * written) << "estimated " << residue << " bytes, the run left " << written;
    EXPECT_GE(est.disk_bytes, residue);
  }

  auto [rc2, log2] = closerlook::testing::run_closerlook("reproduce" + common + " --out " + out);
  ASSERT_EQ(rc2, 0) << log2;
  EXPECT_NE(log2.find("0 step(s) run"), std::string::npos) << log2;

  auto [rc3, log3] = closerlook::testing::run_closerlook("reproduce" + common + " --keep all --out " + all);
  ASSERT_EQ(rc3, 0) << log3;
  ro.out_dir = all;
  Plan plan_all = build_reproduce_plan(cfg, ro);
  for (const auto& s : plan_all.steps()) {
    const std::string ck = plan_all.dir_of(s.id) + "/run/checkpoints";
    if (!fs::is_directory(ck)) continue;
    const TrainConfig tc = read_train_config(s.inputs, s.id);
    std::set<std::string> want = {"last.pt", "last.state.pt"};
    for (const auto& tag : written_checkpoint_tags(tc.train)) want.insert({tag + ".pt", tag + ".state.pt"});
    EXPECT_EQ(files_in(ck), want) << s.id;
  }
  EXPECT_TRUE(file_exists(plan_all.dir_of("sgdr/curve-w1-w3") + "/curve/checkpoints/last.state.pt"));
  // The claims do not depend on the policy.
  const auto a = read_json(out + "/summary.json")["checks"], b = read_json(all + "/summary.json")["checks"];
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["verdict"], b[i]["verdict"]) << a[i]["id"];
    EXPECT_EQ(a[i]["effect"], b[i]["effect"]) << a[i]["id"];
  }
  fs::remove_all(out);
  fs::remove_all(all);
}
