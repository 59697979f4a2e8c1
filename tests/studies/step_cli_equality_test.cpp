// A study step and the CLI command of the same operation write the same folder (issue 14): two
// smoke-preset networks are trained once, then each of the line, curve, plane and activations
// steps (studies/steps.h) runs next to the closerlook commands a user would type with the preset's
// settings, and the two folders are compared file by file: the same relative paths, JSON equal
// after dropping the fields listed in kVolatile (each with its reason), every other file byte
// for byte. The CLI runs with this process's thread count so that reductions split the same way.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "../common/cli.h"
#include "../common/require.h"
#include "core/atomic_file.h"
#include "core/json_io.h"
#include "similarity/jobs.h"
#include "surface/curve_basis.h"
#include "studies/reproduce_config.h"
#include "studies/steps.h"
#include "train/run_dir.h"

using namespace closerlook;
namespace fs = std::filesystem;

namespace {

// Fields that legitimately differ between the two folders, by file name: a JSON pointer into a
// .json/.jsonl record, or a record of a torch archive (*.state.pt, compared tensor by tensor).
struct Volatile {
  std::string file;  // file name (in any folder)
  std::string key;   // "/json/pointer", or an archive record
  const char* reason;
};
const std::vector<Volatile> kVolatile = {
    {"summary.json", "/seconds", "wall-clock time of the curve training"},
    {"metrics.jsonl", "/seconds", "wall-clock time of the epoch"},
    {"last.state.pt", "seconds", "wall-clock time of the curve training so far (resume state)"},
    {"config.json", "/runtime", "host, time, thread count and library versions of the process that wrote it"},
    {"curve.json", "/settings/curve_dir", "the curve folder evaluated: each side evaluates its own (equal) copy"},
    {"curve_eval.json", "/settings/curve_dir", "the curve folder evaluated: each side evaluates its own (equal) copy"},
};
// Files only one side writes, and why.
const std::set<std::string> kStepOnly = {
    "result.json",  // the step's record for the pipeline (status + summary), not an output of the operation
};

std::string fresh_dir(const std::string& tag) {
  auto d = fs::temp_directory_path() / ("cl_step_cli_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

std::string num(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

std::set<std::string> files_under(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.insert(fs::relative(e.path(), dir).string());
  return out;
}

nlohmann::json without_volatile(nlohmann::json j, const std::string& name) {
  for (const auto& v : kVolatile) {
    if (v.file != name || v.key.empty() || v.key[0] != '/') continue;
    const nlohmann::json::json_pointer ptr(v.key);
    if (!j.contains(ptr)) continue;
    j.at(ptr.parent_pointer()).erase(ptr.back());
  }
  return j;
}

// The records of a torch archive that differ between a and b (volatile ones skipped).
std::vector<std::string> archive_differences(const std::string& a, const std::string& b, const std::string& name) {
  torch::serialize::InputArchive ia, ib;
  ia.load_from(a);
  ib.load_from(b);
  const auto keys = ia.keys();
  std::vector<std::string> out;
  if (keys != ib.keys()) out.push_back("different records");
  for (const auto& k : keys) {
    bool skip = false;
    for (const auto& v : kVolatile) skip |= v.file == name && v.key == k;
    if (skip) continue;
    torch::Tensor ta, tb;
    ia.read(k, ta);
    if (!ib.try_read(k, tb) || !ta.sizes().equals(tb.sizes()) || ta.scalar_type() != tb.scalar_type() ||
        !torch::equal(ta, tb))
      out.push_back("record '" + k + "' differs");
  }
  return out;
}

// Every difference between the two folders, one line each (empty: identical).
std::vector<std::string> folder_differences(const std::string& step_dir, const std::string& cli_dir) {
  std::vector<std::string> diffs;
  auto a = files_under(step_dir), b = files_under(cli_dir);
  for (const auto& f : kStepOnly) a.erase(f);
  for (const auto& f : a)
    if (!b.count(f)) diffs.push_back(f + ": only in the step's folder");
  for (const auto& f : b)
    if (!a.count(f)) diffs.push_back(f + ": only in the CLI's folder");
  for (const auto& f : a) {
    if (!b.count(f)) continue;
    const std::string name = fs::path(f).filename().string();
    const std::string ta = read_file(step_dir + "/" + f), tb = read_file(cli_dir + "/" + f);
    const auto ext = fs::path(f).extension().string();
    if (ext == ".json" || ext == ".jsonl") {
      // .json: one document; .jsonl: one per line.
      std::vector<std::string> da, db;
      if (ext == ".json") {
        da = {ta};
        db = {tb};
      } else {
        std::istringstream sa(ta), sb(tb);
        for (std::string l; std::getline(sa, l);) da.push_back(l);
        for (std::string l; std::getline(sb, l);) db.push_back(l);
      }
      if (da.size() != db.size()) {
        diffs.push_back(f + ": " + std::to_string(da.size()) + " vs " + std::to_string(db.size()) + " lines");
        continue;
      }
      for (size_t i = 0; i < da.size(); ++i) {
        const auto ja = without_volatile(nlohmann::json::parse(da[i]), name);
        const auto jb = without_volatile(nlohmann::json::parse(db[i]), name);
        if (ja != jb)
          diffs.push_back(f + (ext == ".jsonl" ? " line " + std::to_string(i + 1) : std::string()) + ": " +
                          nlohmann::json::diff(ja, jb).dump().substr(0, 600));
      }
    } else if (name.size() > 9 && name.substr(name.size() - 9) == ".state.pt") {
      for (const auto& d : archive_differences(step_dir + "/" + f, cli_dir + "/" + f, name)) diffs.push_back(f + ": " + d);
    } else if (ta != tb) {
      diffs.push_back(f + ": bytes differ (" + std::to_string(ta.size()) + " vs " + std::to_string(tb.size()) + ")");
    }
  }
  return diffs;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += "  " + x + "\n";
  return s;
}

// The smoke preset and two networks trained with it (seeds 1 and 2), shared by the tests.
struct Fixture {
  std::string root;
  ReproduceConfig cfg;
  std::string a, b, a_init;
  std::string threads;

  Fixture() : root(fresh_dir("suite")) {
    cfg = load_reproduce_config(std::string(CL_SOURCE_DIR) + "/configs/presets/smoke.toml", {});
    threads = std::to_string(torch::get_num_threads());
    for (uint64_t seed : {1, 2}) {
      Step step{"equality/train-" + std::to_string(seed), "equality", "", {}, {}, {}};
      StepContext ctx;
      ctx.root = root;
      ctx.dir = root + "/train-" + std::to_string(seed);
      ctx.step = &step;
      fs::create_directories(ctx.dir);
      run_train_step(ctx, cfg.run_tree(seed, nlohmann::json::object()));
    }
    a = step_checkpoint(root + "/train-1", "final");
    b = step_checkpoint(root + "/train-2", "final");
    a_init = step_checkpoint(root + "/train-1", "init");
  }

  StepContext step_ctx(const std::string& name, Step& step) const {
    StepContext ctx;
    ctx.root = root;
    ctx.dir = root + "/step-" + name;
    ctx.step = &step;
    fs::create_directories(ctx.dir);
    return ctx;
  }

  // The evaluation flags of the surface commands for the preset's [eval] and [curve].
  std::string eval_flags() const {
    const auto& e = cfg.eval.settings;
    return " --bn-samples " + std::to_string(e.bn_samples) + " --train-samples " + std::to_string(e.train_samples) +
           " --test-samples " + std::to_string(e.test_samples) + " --batch " + std::to_string(e.batch_size) +
           " --bn-batch " + std::to_string(e.bn_batch_size) + " --subset-seed " + std::to_string(e.subset_seed) +
           " --wd " + num(cfg.curve.weight_decay) + " --quiet --threads " + threads;
  }

  void cli(const std::string& args) const {
    auto [rc, out] = closerlook::testing::run_closerlook(args);
    ASSERT_EQ(rc, 0) << args << "\n" << out;
  }
};

Fixture* fixture = nullptr;

class StepCliEquality : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (fs::exists(closerlook::testing::closerlook_binary()) && !fixture) fixture = new Fixture();
  }
  static void TearDownTestSuite() {
    if (fixture) fs::remove_all(fixture->root);
    delete fixture;
    fixture = nullptr;
  }
};

#define REQUIRE_FIXTURE()                                                                     \
  CL_REQUIRE_OR_SKIP(fixture != nullptr, closerlook::testing::closerlook_binary()            \
                                             << " is not built (ninja closerlook)")

}  // namespace

TEST_F(StepCliEquality, LineStepWritesWhatInterpolateWrites) {
  REQUIRE_FIXTURE();
  const Fixture& f = *fixture;
  Step step{"equality/line", "equality", "", {}, {}, {}};
  StepContext ctx = f.step_ctx("line", step);
  run_line_step(ctx, f.cfg, f.a, f.b);
  ASSERT_EQ(read_step_result(ctx.dir)["status"], "ok");
  const std::string out = f.root + "/cli-line";
  f.cli("interpolate " + f.a + " " + f.b + " --out " + out + " --points " + std::to_string(f.cfg.eval.points) +
        f.eval_flags());
  ASSERT_TRUE(file_exists(ctx.dir + "/line.json"));
  const auto diffs = folder_differences(ctx.dir, out);
  EXPECT_TRUE(diffs.empty()) << join(diffs);
}

TEST_F(StepCliEquality, CurveStepWritesWhatConnectAndCurveEvalWrite) {
  REQUIRE_FIXTURE();
  const Fixture& f = *fixture;
  Step step{"equality/curve", "equality", "", {}, {}, {}};
  StepContext ctx = f.step_ctx("curve", step);
  const uint64_t seed = 7;
  run_curve_step(ctx, f.cfg, f.a, f.b, seed);
  ASSERT_EQ(read_step_result(ctx.dir)["status"], "ok") << read_step_result(ctx.dir).dump();
  const std::string out = f.root + "/cli-curve";
  const auto& c = f.cfg.curve;
  f.cli("connect " + f.a + " " + f.b + " --out " + out + "/curve --curve " + curve_type_name(c.type) + " --bends " +
        std::to_string(c.bends) + " --epochs " + std::to_string(c.epochs) + " --lr " + num(c.lr) + " --momentum " +
        num(c.momentum) + " --wd " + num(c.weight_decay) + " --batch " + std::to_string(c.batch_size) + " --seed " +
        std::to_string(seed) + " --quiet --threads " + f.threads);
  f.cli("curve-eval " + out + "/curve --out " + out + " --no-line --points " + std::to_string(f.cfg.eval.points) +
        f.eval_flags());
  ASSERT_TRUE(file_exists(ctx.dir + "/curve.json"));
  ASSERT_TRUE(file_exists(ctx.dir + "/curve/bends.npy"));
  const auto diffs = folder_differences(ctx.dir, out);
  EXPECT_TRUE(diffs.empty()) << join(diffs);

  // The plane through that curve, with one checkpoint projected under a name (the missing one is skipped).
  Step pstep{"equality/plane", "equality", "", {}, {}, {}};
  StepContext pctx = f.step_ctx("plane", pstep);
  run_plane_step(pctx, f.cfg, f.a, ctx.dir + "/curve", f.b, {{"init", f.a_init}, {"missing", f.root + "/no.pt"}});
  ASSERT_EQ(read_step_result(pctx.dir)["status"], "ok");
  const std::string pout = f.root + "/cli-plane";
  f.cli("plane --curve " + ctx.dir + "/curve --project " + f.a_init + " --project-name init --out " + pout +
        "/plane --grid " + std::to_string(f.cfg.eval.plane_grid) + " --margin " + num(f.cfg.eval.plane_margin) +
        " --curve-points " + std::to_string(f.cfg.eval.points) + f.eval_flags());
  const auto plane = read_json(pctx.dir + "/plane/plane.json");
  ASSERT_EQ(plane["projections"].size(), 1u);
  EXPECT_EQ(plane["projections"][0]["name"], "init");
  const auto pdiffs = folder_differences(pctx.dir, pout);
  EXPECT_TRUE(pdiffs.empty()) << join(pdiffs);
}

TEST_F(StepCliEquality, ActivationsStepWritesWhatActivationsWrites) {
  REQUIRE_FIXTURE();
  const Fixture& f = *fixture;
  Step step{"equality/acts", "equality", "", {}, {}, {}};
  StepContext ctx = f.step_ctx("acts", step);
  run_activations_step(ctx, f.cfg, {{"a", f.a}, {"b", f.b}});
  ASSERT_EQ(read_step_result(ctx.dir)["status"], "ok");
  const std::string out = f.root + "/cli-acts";
  for (const auto& [name, ckpt] : {std::pair{"a", f.a}, std::pair{"b", f.b}})
    f.cli("activations " + ckpt + " --out " + out + "/" + name + " --n " + std::to_string(f.cfg.similarity.examples) +
          " --conv-mode " + f.cfg.similarity.conv_mode + " --quiet --threads " + f.threads);
  ASSERT_TRUE(is_activation_dir(ctx.dir + "/a"));
  const auto diffs = folder_differences(ctx.dir, out);
  EXPECT_TRUE(diffs.empty()) << join(diffs);

  // The similarity between the two runs: the library job on the step's folders writes what
  // `closerlook similarity-map` writes for the same sources.
  SimilarityMapJob job;
  job.a = ctx.dir + "/a";
  job.b = ctx.dir + "/b";
  job.out_dir = f.root + "/lib-map";
  job.measures.clear();
  std::string list;
  for (const auto& m : f.cfg.similarity.measures) {
    job.measures.push_back(parse_measure(m));
    list += (list.empty() ? "" : ",") + m;
  }
  run_similarity_map(job);
  f.cli("similarity-map --a " + job.a + " --b " + job.b + " --measure " + list + " --out " + f.root +
        "/cli-map --quiet --threads " + f.threads);
  EXPECT_EQ(files_under(job.out_dir).size(), 3 * f.cfg.similarity.measures.size());
  const auto mdiffs = folder_differences(job.out_dir, f.root + "/cli-map");
  EXPECT_TRUE(mdiffs.empty()) << join(mdiffs);
}
