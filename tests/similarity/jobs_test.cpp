// similarity/jobs.h without the binary: run resolution (the first N examples of a checkpoint's
// run), the source policy (checkpoint or activation folder, every checkpoint on the first one's
// examples), output assembly (files, summary, sources in settings) and the input errors.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "similarity/jobs.h"
#include "train/run_data.h"
#include "train/run_dir.h"
#include "train/run_training.h"
#include "train/train_config.h"

using namespace closerlook;
namespace fs = std::filesystem;

namespace {

// Two tiny MLP runs on synthetic data (seeds 1, 2), one epoch each: checkpoints init and final.
struct Runs {
  std::string root, run_a, run_b;
  Runs() : root((fs::temp_directory_path() / ("cl_sim_jobs_" + std::to_string(::getpid()))).string()) {
    fs::remove_all(root);
    for (int seed : {1, 2}) {
      nlohmann::json tree = nlohmann::json::parse(R"({
        "data": {"dataset": "synthetic", "synthetic_train": 64, "synthetic_test": 32, "synthetic_size": 8,
                 "synthetic_classes": 3, "synthetic_channels": 1, "augment": false},
        "model": {"family": "mlp", "mlp_hidden": [12, 6]},
        "train": {"epochs": 1, "batch_size": 16, "lr": 0.05}
      })");
      tree["seed"] = seed;
      const std::string dir = root + "/run" + std::to_string(seed);
      RunOptions o;
      o.quiet = true;
      run_training(read_train_config(tree, "jobs_test"), dir, o);
    }
    run_a = root + "/run1";
    run_b = root + "/run2";
  }
  ~Runs() { fs::remove_all(root); }
  std::string ckpt(const std::string& run, const std::string& tag) const { return checkpoint_path(run, tag); }
};

const Runs& runs() {
  static Runs r;
  return r;
}

CaptureSource source(int64_t n, const std::string& split = "train") {
  CaptureSource s;
  s.capture.examples = n;
  s.split = split;
  return s;
}

}  // namespace

TEST(SimilarityJobs, RunExamplesAreTheFirstNOfTheRunsSplit) {
  const auto& r = runs();
  const DataSplit full = load_run_data(r.run_a);
  const Dataset train = run_examples(r.ckpt(r.run_a, "final"), source(10));
  ASSERT_EQ(train.size(), 10);
  EXPECT_TRUE(torch::equal(train.images, full.train.images.narrow(0, 0, 10)));  // full-set normalisation
  const Dataset test = run_examples(r.ckpt(r.run_a, "final"), source(0, "test"));
  EXPECT_EQ(test.size(), full.test.size());
  EXPECT_TRUE(torch::equal(test.images, full.test.images));
  // Overrides reach the data; only data.* keys; the split is train or test.
  CaptureSource o = source(0);
  o.data_overrides = {"data.train_subset=20"};
  EXPECT_EQ(run_examples(r.ckpt(r.run_a, "final"), o).size(), 20);
  o.data_overrides = {"train.lr=1"};
  EXPECT_THROW(run_examples(r.ckpt(r.run_a, "final"), o), Error);
  EXPECT_THROW(run_examples(r.ckpt(r.run_a, "final"), source(10, "valid")), Error);
  EXPECT_THROW(run_examples(r.root + "/nowhere.pt", source(10)), Error);
}

TEST(SimilarityJobs, ActivationsFolderAndSummary) {
  const auto& r = runs();
  ActivationsJob job;
  job.checkpoint = r.ckpt(r.run_a, "final");
  job.out_dir = r.root + "/acts_a";
  job.source = source(16);
  const auto summary = run_activations(job);
  ASSERT_TRUE(is_activation_dir(job.out_dir));
  const auto acts = load_activations(job.out_dir);
  EXPECT_EQ(summary["examples"], 16);
  ASSERT_EQ(summary["layers"].size(), acts.layers.size());
  ASSERT_FALSE(acts.layers.empty());
  for (size_t i = 0; i < acts.layers.size(); ++i) {
    EXPECT_EQ(summary["layers"][i]["name"], acts.layers[i].first);
    EXPECT_EQ(summary["layers"][i]["rows"], 16);
  }
  EXPECT_EQ(acts.meta["source"]["checkpoint"], job.checkpoint);
  EXPECT_EQ(acts.meta["source"]["run"], r.run_a);
  job.out_dir.clear();
  EXPECT_THROW(run_activations(job), Error);
}

TEST(SimilarityJobs, CheckpointSourcesEqualTheirActivationFolders) {
  const auto& r = runs();
  const std::string a = r.ckpt(r.run_a, "final"), b = r.ckpt(r.run_b, "final");
  for (const auto& [ckpt, dir] : {std::pair{a, r.root + "/fa"}, std::pair{b, r.root + "/fb"}})
    run_activations({ckpt, dir, source(24)});
  SimilarityMapJob from_ckpts;
  from_ckpts.a = a;
  from_ckpts.b = b;
  from_ckpts.source = source(24);
  from_ckpts.measures = {Measure::CkaLinear, Measure::Svcca};
  from_ckpts.out_dir = r.root + "/map_ckpts";
  SimilarityMapJob from_dirs = from_ckpts;
  from_dirs.a = r.root + "/fa";
  from_dirs.b = r.root + "/fb";
  from_dirs.out_dir = r.root + "/map_dirs";
  const auto s1 = run_similarity_map(from_ckpts);
  run_similarity_map(from_dirs);
  ASSERT_EQ(s1["maps"].size(), 2u);
  for (const auto& m : {"cka-linear", "svcca"}) {
    const auto x = read_similarity_map_json(from_ckpts.out_dir + "/" + m + ".json");
    const auto y = read_similarity_map_json(from_dirs.out_dir + "/" + m + ".json");
    EXPECT_TRUE(torch::allclose(x.values, y.values, 1e-12, 1e-12)) << m;
    EXPECT_EQ(x.row_names, y.row_names);
    EXPECT_TRUE(file_exists(from_ckpts.out_dir + "/" + m + ".npy"));
    EXPECT_TRUE(file_exists(from_ckpts.out_dir + "/" + m + ".csv"));
    // Each source's path and capture metadata go into the map's settings.
    EXPECT_EQ(x.settings["sources"][0]["path"], a);
    EXPECT_EQ(y.settings["sources"][1]["path"], from_dirs.b);
  }
  EXPECT_EQ(s1["maps"][0]["measure"], "cka-linear");
  EXPECT_EQ(s1["maps"][0]["files"][0], from_ckpts.out_dir + "/cka-linear.npy");
}

TEST(SimilarityJobs, LayerByCheckpointNamesColumnsByFile) {
  const auto& r = runs();
  SimilarityMapJob job;
  job.checkpoints = {r.ckpt(r.run_a, "init"), r.ckpt(r.run_a, "final")};
  job.reference = parse_checkpoint_reference("first");
  job.source = source(16);
  job.out_dir = r.root + "/drift";
  const auto s = run_similarity_map(job);
  ASSERT_EQ(s["maps"].size(), 1u);
  const auto m = read_similarity_map_json(job.out_dir + "/cka-linear.json");
  EXPECT_EQ(m.kind, "layer-by-checkpoint");
  ASSERT_EQ(m.col_names.size(), 2u);
  EXPECT_NE(m.col_names[1].find("final"), std::string::npos) << m.col_names[1];
  EXPECT_NEAR(m.at(0, 0), 1.0, 1e-9);  // the first checkpoint against itself
}

TEST(SimilarityJobs, MapInputErrors) {
  const auto& r = runs();
  SimilarityMapJob job;
  job.out_dir = r.root + "/bad";
  job.source = source(8);
  EXPECT_THROW(run_similarity_map(job), Error);  // neither --a/--b nor --checkpoints
  job.a = r.ckpt(r.run_a, "final");
  EXPECT_THROW(run_similarity_map(job), Error);  // --a without --b
  job.checkpoints = {job.a};
  EXPECT_THROW(run_similarity_map(job), Error);  // both forms
  job.checkpoints.clear();
  job.b = r.root + "/no_such_source";
  EXPECT_THROW(run_similarity_map(job), Error);
  job.b = r.ckpt(r.run_b, "final");
  job.measures = {Measure::DftCca};
  EXPECT_THROW(run_similarity_map(job), Error);  // maps take 2-D measures only
  job.measures = {Measure::CkaLinear};
  job.options.svcca_variance = 1.5;
  EXPECT_THROW(run_similarity_map(job), Error);  // validated options
  EXPECT_FALSE(fs::exists(job.out_dir + "/cka-linear.json"));
}

TEST(SimilarityJobs, PairJobWritesItsResultAndChecksTheLayout) {
  const auto& r = runs();
  torch::manual_seed(0);
  const auto x = torch::randn({30, 4}, torch::kFloat64), y = x.mm(torch::randn({4, 3}, torch::kFloat64));
  write_npy(r.root + "/x.npy", x);
  write_npy(r.root + "/y.npy", y);
  PairJob job;
  job.a = r.root + "/x.npy";
  job.b = r.root + "/y.npy";
  job.measure = Measure::Cca;
  job.out = r.root + "/pair.json";
  const auto j = run_similarity_pair(job);
  EXPECT_EQ(j["a"], job.a);
  EXPECT_EQ(j["measure"], "cca");
  EXPECT_NEAR(j["coefficients"][0].get<double>(), 1.0, 1e-9);  // y is a linear map of x
  EXPECT_EQ(read_json(job.out), j);
  job.layout = SpatialLayout::Nhwc;
  EXPECT_THROW(run_similarity_pair(job), Error);  // --layout is for dft-cca only
  job.layout = SpatialLayout::Nchw;
  job.measure = Measure::DftCca;
  job.neuron_major = true;
  EXPECT_THROW(run_similarity_pair(job), Error);
}
