// Aligned geometry in the tools and the studies (issue 17 parts 2 and 4): the smoke plan holds
// the aligned line steps and the SGDR independent-runs baseline as extra steps (every other
// step's hash unchanged), a planted case (a trained network and a permuted copy of it) has a raw
// line barrier and none once aligned, through the library, the study's step helper and
// `closerlook interpolate --align`, and a smoke run writes raw and aligned barriers for every pair.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "../common/cli.h"
#include "../common/require.h"
#include "core/atomic_file.h"
#include "core/json_io.h"
#include "studies/reproduce.h"
#include "studies/steps.h"
#include "surface/align.h"
#include "surface/aligned_endpoints.h"
#include "surface/permutation_spec.h"
#include "train/run_dir.h"
#include "train/run_training.h"
#include "train/train_config.h"

using namespace closerlook;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("cl_aligned_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

Plan smoke_plan(const std::string& out, const std::vector<std::string>& sets, bool controls) {
  ReproduceConfig cfg = load_reproduce_config(std::string(CL_SOURCE_DIR) + "/configs/presets/smoke.toml", sets);
  static std::vector<ReproduceConfig> keep;  // the plan's steps point at their config
  keep.reserve(16);
  keep.push_back(cfg);
  ReproduceOptions o;
  o.out_dir = out;
  o.controls = controls;
  return build_reproduce_plan(keep.back(), o);
}

std::set<std::string> ids_of(const Plan& p) {
  std::set<std::string> s;
  for (const auto& st : p.steps()) s.insert(st.id);
  return s;
}

// A tiny MLP that separates the synthetic classes (100% test accuracy in 0.3 s): its midpoint
// with a permuted copy of itself is far from both, its midpoint with the aligned copy is itself.
std::string train_tiny(const std::string& dir, const std::string& name, int seed) {
  nlohmann::json tree = nlohmann::json::parse(R"({
    "seed": 3,
    "data": {"dataset": "synthetic", "synthetic_train": 512, "synthetic_test": 256, "synthetic_size": 8,
             "synthetic_classes": 4, "augment": false},
    "model": {"family": "mlp", "mlp_hidden": [64, 64], "batchnorm": false},
    "train": {"epochs": 10, "batch_size": 32, "lr": 0.1, "eval_train_subset": 256}})");
  tree["seed"] = seed;
  RunOptions ro;
  ro.quiet = true;
  run_training(read_train_config(tree, "aligned_barriers_test"), dir + "/" + name, ro);
  return checkpoint_path(dir + "/" + name, "final");
}

// The same network with its hidden units in a random order, as a run folder <dir>/b.
std::string permuted_copy(const std::string& ckpt, const std::string& dir, uint64_t seed) {
  auto net = load_network(ckpt, torch::kCPU);
  apply_permutation(*net, random_permutation(derive_permutation_spec(*net), seed));
  make_dirs(dir + "/b/checkpoints");
  fs::copy_file(run_dir_of_checkpoint(ckpt) + "/config.json", dir + "/b/config.json",
                fs::copy_options::overwrite_existing);
  const std::string out = checkpoint_path(dir + "/b", "final");
  net->save(out);
  return out;
}

double max_rise(const nlohmann::json& line, const char* key) {  // max over t of v(t) - max(endpoints)
  const auto v = line.at(key).get<std::vector<double>>();
  return *std::max_element(v.begin(), v.end()) - std::max(v.front(), v.back());
}

struct Planted {
  std::string dir, a, b, c, d;  // c, d: other seeds
};
const Planted& planted() {
  static Planted p = [] {
    Planted q;
    q.dir = fresh_dir("planted");
    q.a = train_tiny(q.dir, "a", 3);
    q.b = permuted_copy(q.a, q.dir, 17);
    q.c = train_tiny(q.dir, "c", 4);
    q.d = train_tiny(q.dir, "d", 5);
    return q;
  }();
  return p;
}

}  // namespace

// The new steps are in the smoke plan; with [align] method = none the aligned ones are not; the
// steps the studies had keep their hashes (only the analyses that read the new steps change).
TEST(AlignedBarriers, SmokePlanHasTheExtraStepsAndKeepsEveryOtherHash) {
  const std::string out = fresh_dir("plan");
  for (bool controls : {false, true}) {
    const Plan w = smoke_plan(out, {}, controls), n = smoke_plan(out, {"align.method=none"}, controls);
    const auto ids = ids_of(w), nids = ids_of(n);
    for (const char* id : {"resilience/aligned-line-G-A", "resilience/aligned-line-G-F", "sgdr/train-sgd-indep",
                           "sgdr/indep-line", "sgdr/indep-aligned-line", "distill/line-students",
                           "distill/aligned-line-students"})
      EXPECT_TRUE(ids.count(id)) << id << " missing (controls " << controls << ")";
    for (const auto& id : nids) EXPECT_TRUE(ids.count(id)) << id;
    for (const auto& id : ids)
      if (id.find("aligned-line") != std::string::npos) EXPECT_FALSE(nids.count(id)) << id << " with method none";
    // A step whose dependencies are the same steps, none of them changed, hashes the same; the
    // changed ones are only the analyses reading the new steps and what depends on them.
    int same = 0;
    std::set<std::string> changed;
    for (const auto& s : n.steps()) {
      const auto& ws = w.steps()[size_t(w.index_of(s.id) - 1)];
      bool deps_same = ws.deps == s.deps;
      for (const auto& d : s.deps) deps_same = deps_same && !changed.count(d);
      if (!deps_same) {
        changed.insert(s.id);
        const bool analysis = s.id.find("analysis") != std::string::npos || s.id.find("controls") != std::string::npos ||
                              s.id == "summary";
        EXPECT_TRUE(analysis) << s.id << " changed";
        continue;
      }
      EXPECT_EQ(w.hash_of(s.id), n.hash_of(s.id)) << s.id;
      ++same;
    }
    EXPECT_GT(same, 20);
    EXPECT_TRUE(changed.count("resilience/analysis"));
    // The aligned lines declare what they read (the keep policy must not delete it first).
    const auto reads = w.reads_of("resilience/aligned-line-G-A");
    EXPECT_EQ(reads.size(), 2u);
    EXPECT_TRUE(w.keep_set("sgdr/train-sgd-indep").count("final"));
  }
}

// A network and a permuted copy of it: the raw line has a barrier, the aligned line has none
// (the aligned copy is the network itself), through the one implementation the tools use.
TEST(AlignedBarriers, PlantedPermutationRawBarrierAlignedNone) {
  const Planted& p = planted();
  const std::string out = fresh_dir("lib");
  InterpolateJob job;
  job.checkpoints = {p.a, p.b};
  job.path.points = 7;
  job.common.quiet = true;
  EndpointAlignment none, w;
  w.method = "weights";
  job.out_dir = out + "/raw";
  run_aligned_interpolation(job, none);
  job.out_dir = out + "/aligned";
  run_aligned_interpolation(job, w);
  const auto raw = read_json(out + "/raw/line.json"), al = read_json(out + "/aligned/line.json");
  EXPECT_GT(max_rise(raw, "te_err"), 0.10) << raw["te_err"].dump();
  EXPECT_LE(max_rise(al, "te_err"), 0.01) << al["te_err"].dump();
  EXPECT_FALSE(raw["settings"].contains("align"));
  ASSERT_TRUE(al["settings"].contains("align"));
  EXPECT_EQ(al["settings"]["align"]["method"], "weights");
  const auto& rec = al["settings"]["align"]["aligned"][0];
  EXPECT_TRUE(rec.contains("permutation"));
  EXPECT_LT(rec["distance_after"].get<double>(), 1e-4 * rec["distance_before"].get<double>());
  EXPECT_TRUE(file_exists(out + "/aligned/aligned/1/checkpoints/aligned.pt"));
  EXPECT_TRUE(file_exists(out + "/aligned/aligned/1/permutation.json"));
  // The barrier table of the studies: aligned <= raw (+ a point), raw clearly above zero.
  const auto t = write_barrier_table(out, out, false, "test", "test-barriers", "t", 1, "weights",
                                     {{"a-b", "planted", out + "/raw", out + "/aligned"}});
  const auto& row = t["pairs"][0];
  const double rb = row["raw"]["test_err_points"], ab = row["aligned"]["test_err_points"];
  EXPECT_GT(rb, 10.0);
  EXPECT_LE(ab, rb + 1.0);
  EXPECT_LE(ab, 1.0);
  EXPECT_GT(row["raw"]["train_loss"].get<double>(), 10 * row["aligned"]["train_loss"].get<double>() + 1e-6);
  EXPECT_TRUE(file_exists(out + "/barriers.json"));
  // A second call reuses the aligned folder (same inputs): the checkpoint is not rewritten.
  const auto before = fs::last_write_time(out + "/aligned/aligned/1/checkpoints/aligned.pt");
  run_aligned_interpolation(job, w);
  EXPECT_EQ(before, fs::last_write_time(out + "/aligned/aligned/1/checkpoints/aligned.pt"));
}

// `closerlook interpolate --align weights` on a network and its permuted copy: a flat line (test
// error within a point of the endpoints), `--align none`: not; a bad method is refused.
TEST(AlignedBarriers, CliInterpolateAlignFlattensThePlantedLine) {
  CL_REQUIRE_OR_SKIP(fs::exists(closerlook::testing::closerlook_binary()), "closerlook is not built");
  const Planted& p = planted();
  const std::string out = fresh_dir("cli");
  for (const char* m : {"none", "weights"}) {
    auto [rc, log] = closerlook::testing::run_closerlook("interpolate " + p.a + " " + p.b + " --points 7 --quiet --threads 1 --align " +
                                                         m + " --out " + out + "/" + m);
    ASSERT_EQ(rc, 0) << log;
  }
  const auto raw = read_json(out + "/none/line.json"), al = read_json(out + "/weights/line.json");
  EXPECT_GT(max_rise(raw, "te_err"), 0.10) << raw["te_err"].dump();
  EXPECT_LE(max_rise(al, "te_err"), 0.01) << al["te_err"].dump();
  EXPECT_EQ(al["settings"]["align"]["method"], "weights");
  EXPECT_TRUE(file_exists(out + "/weights/align.json"));
  auto [rc, log] = closerlook::testing::run_closerlook("interpolate " + p.a + " " + p.b + " --align sideways --out " + out + "/bad");
  EXPECT_NE(rc, 0);
  EXPECT_NE(log.find("sideways"), std::string::npos) << log;
}

// plane --align: W1, W2 and the projected checkpoints aligned to W0, recorded in plane.json; the
// permuted copy of W0, projected, lands on W0 once aligned; connect --align: the aligned end next to the curve folder and in its config.
TEST(AlignedBarriers, CliPlaneAndConnectAlign) {
  CL_REQUIRE_OR_SKIP(fs::exists(closerlook::testing::closerlook_binary()), "closerlook is not built");
  const Planted& p = planted();
  const std::string out = fresh_dir("plane");
  auto [rc, log] = closerlook::testing::run_closerlook("plane " + p.a + " " + p.c + " " + p.d + " --project " + p.b +
                                                       " --project-name copy --grid 2 --quiet --threads 1 --align weights --out " +
                                                       out + "/plane");
  ASSERT_EQ(rc, 0) << log;
  const auto meta = read_json(out + "/plane/plane.json");
  ASSERT_TRUE(meta.contains("align")) << meta.dump().substr(0, 400);
  ASSERT_EQ(meta["align"]["aligned"].size(), 3u);
  EXPECT_LT(meta["align"]["aligned"][2]["distance_after"].get<double>(), 1e-4);
  EXPECT_GT(meta["align"]["aligned"][2]["distance_before"].get<double>(), 1.0);
  EXPECT_TRUE(file_exists(out + "/plane/aligned/3/checkpoints/aligned.pt"));
  bool found = false;
  for (const auto& q : meta["projections"])
    if (q.value("name", "") == "copy") {
      found = true;
      EXPECT_NEAR(q["alpha"].get<double>(), 0.0, 1e-3) << q.dump();
      EXPECT_NEAR(q["beta"].get<double>(), 0.0, 1e-3) << q.dump();
      EXPECT_LT(q["off_plane"].get<double>(), 1e-3) << q.dump();
    }
  EXPECT_TRUE(found) << meta["projections"].dump();
  auto [rc1, log1] = closerlook::testing::run_closerlook("plane --directions random --around " + p.a +
                                                         " --align weights --out " + out + "/random");
  EXPECT_NE(rc1, 0);
  EXPECT_NE(log1.find("--align"), std::string::npos) << log1;
  auto [rc2, log2] = closerlook::testing::run_closerlook("connect " + p.a + " " + p.b +
                                                         " --epochs 1 --quiet --threads 1 --align weights --out " + out + "/curve");
  ASSERT_EQ(rc2, 0) << log2;
  EXPECT_TRUE(file_exists(out + "/curve.aligned/1/checkpoints/aligned.pt"));
  const auto cfg = read_json(out + "/curve/config.json");
  EXPECT_NE(cfg["config"]["end"].get<std::string>().find("curve.aligned/1/checkpoints/aligned.pt"), std::string::npos);
  EXPECT_EQ(read_json(out + "/curve/summary.json")["align"]["method"], "weights");
}

// A smoke run of the three studies: raw and aligned barriers for every pair of different runs.
TEST(AlignedBarriers, SmokeStudiesWriteRawAndAlignedBarriersForEveryPair) {
  CL_REQUIRE_OR_SKIP(fs::exists(closerlook::testing::closerlook_binary()), "closerlook is not built");
  const std::string out = fresh_dir("smoke");
  for (const char* study : {"resilience", "sgdr", "distill"}) {
    auto [rc, log] = closerlook::testing::run_closerlook(std::string("reproduce --preset smoke --no-report --quiet --threads 2 --study ") +
                                                         study + " --out " + out);
    ASSERT_EQ(rc, 0) << log;
  }
  const std::map<std::string, std::vector<std::string>> aligned_pairs = {
      {"resilience", {"G-A", "G-F"}}, {"sgdr", {"SGD vs SGD (independent)"}}, {"distill", {"S_i-S_d"}}};
  for (const auto& [study, want] : aligned_pairs) {
    const auto b = read_json(out + "/steps/" + study + "/analysis/barriers.json");
    EXPECT_EQ(b["align"], "weights");
    std::set<std::string> with_aligned;
    for (const auto& q : b["pairs"]) {
      ASSERT_TRUE(q["raw"].is_object()) << study << " " << q.dump();
      EXPECT_TRUE(q["raw"]["test_err_points"].is_number()) << q.dump();
      if (q["aligned"].is_object()) {
        with_aligned.insert(q["pair"]);
        EXPECT_TRUE(q["aligned"]["test_err_points"].is_number()) << q.dump();
        EXPECT_TRUE(q["aligned"]["distance_after"].is_number()) << q.dump();
      }
    }
    for (const auto& w : want) EXPECT_TRUE(with_aligned.count(w)) << study << ": " << w << " not aligned";
    EXPECT_TRUE(file_exists(out + "/figures/" + study + "-barriers.json")) << study;
  }
  // The resilience claim carries the aligned line barrier next to the curve's numbers.
  const auto claims = read_json(out + "/steps/resilience/analysis/claims.json");
  const std::string dump = claims.dump();
  EXPECT_NE(dump.find("aligned_line_barrier_test_err"), std::string::npos);
}
