// Representation-similarity commands (docs/similarity.md):
//   similarity A.npy B.npy --measure M      one pair; prints a JSON result
//   activations CKPT.pt --out DIR           captures every probe point as float32 .npy + index
//   similarity-map --a S --b S | --checkpoints S S ...   layer x layer / layer x checkpoint maps
// A source S is a checkpoint (<run>/checkpoints/<tag>.pt) or a folder written by `activations`.
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "data/load.h"
#include "similarity/activations.h"
#include "similarity/dft_cca.h"
#include "similarity/similarity.h"
#include "similarity/similarity_map.h"
#include "train/run_dir.h"

namespace closerlook {
namespace {

struct MeasureArgs {
  std::string measure = "cka-linear";
  std::string compat = "clean";
  double svcca_variance = 0.99;
  int64_t svcca_dims = 0;
  double rbf_threshold = 1.0;
  double epsilon = 0.0;
  double threshold = 0.98;
  double rank_rtol = 0.0;
  bool uncentred = false;
  int64_t max_gram = 8192;
};

void add_measure_options(CLI::App* cmd, MeasureArgs& a, bool many) {
  cmd->add_option("--measure", a.measure,
                  many ? "Comma-separated measures: cca, svcca, pwcca, cka-linear, cka-rbf, cka-debiased"
                       : "cca, svcca, pwcca, cka-linear, cka-rbf, cka-debiased, or dft-cca (4-D conv activations)")
      ->capture_default_str();
  cmd->add_option("--compat", a.compat, "clean, or google (google/svcca semantics for the CCA family)")
      ->capture_default_str();
  cmd->add_option("--svcca-variance", a.svcca_variance, "SVCCA: keep directions explaining this variance fraction")
      ->capture_default_str();
  cmd->add_option("--svcca-dims", a.svcca_dims, "SVCCA: keep this many directions (0 = by variance)")
      ->capture_default_str();
  cmd->add_option("--rbf-threshold", a.rbf_threshold, "RBF CKA: sigma^2 = threshold^2 * median squared distance")
      ->capture_default_str();
  cmd->add_option("--epsilon", a.epsilon, "google mode: remove_small epsilon and eps*I regulariser")
      ->capture_default_str();
  cmd->add_option("--threshold", a.threshold, "google mode: sum_threshold fraction of the reported mean")
      ->capture_default_str();
  cmd->add_option("--rank-rtol", a.rank_rtol,
                  "Relative singular-value cutoff for rank deficiency (0 = 1e-6 for float32 input, 1e-12 for float64)")
      ->capture_default_str();
  cmd->add_flag("--uncentred", a.uncentred, "CCA family: do not centre (reproduces Kornblith's demo cca)");
  cmd->add_option("--max-gram", a.max_gram, "Largest n for which an n x n kernel matrix may be formed")
      ->capture_default_str();
}

SimilarityOptions to_options(const MeasureArgs& a) {
  SimilarityOptions o;
  o.compat = parse_compat(a.compat);
  o.center = !a.uncentred;
  o.rank_rtol = a.rank_rtol;
  o.svcca_variance = a.svcca_variance;
  o.svcca_dims = a.svcca_dims;
  o.rbf_threshold = a.rbf_threshold;
  o.max_gram_examples = a.max_gram;
  o.google_epsilon = a.epsilon;
  o.google_threshold = a.threshold;
  validate_options(o);
  return o;
}

std::vector<Measure> parse_measures(const std::string& list) {
  std::vector<Measure> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(parse_measure(item));
  if (out.empty()) throw_bad_input("--measure: no measure given");
  return out;
}

// ---- activation capture from checkpoints ----------------------------------------------------

struct CaptureArgs {
  int64_t n = 1000;
  std::string conv_mode = "gap";
  std::string split = "train";
  int64_t batch = 256;
  int64_t spatial_stride = 1;
  std::string probes;
  std::vector<std::string> sets;
};

void add_capture_options(CLI::App* cmd, CaptureArgs& a) {
  cmd->add_option("--n", a.n, "Number of examples: the first N of the split (0 = all)")->capture_default_str();
  cmd->add_option("--conv-mode", a.conv_mode, "Conv layers as gap (N x C), spatial (N*H*W x C) or flatten (N x CHW)")
      ->capture_default_str();
  cmd->add_option("--split", a.split, "train or test")->capture_default_str();
  cmd->add_option("--batch", a.batch, "Forward batch size")->capture_default_str();
  cmd->add_option("--spatial-stride", a.spatial_stride, "spatial mode: keep every s-th row and column")
      ->capture_default_str();
  cmd->add_option("--probes", a.probes, "Comma-separated probe points (default: all)");
  cmd->add_option("--set", a.sets, "Override a data key of the run: --set data.dir=/data/fmnist");
}

CaptureOptions to_capture_options(const CaptureArgs& a, torch::Device device) {
  CaptureOptions o;
  o.examples = a.n;
  o.batch = a.batch;
  o.conv_mode = parse_conv_mode(a.conv_mode);
  o.spatial_stride = a.spatial_stride;
  o.device = device;
  std::stringstream ss(a.probes);
  std::string p;
  while (std::getline(ss, p, ','))
    if (!p.empty()) o.probes.push_back(p);
  return o;
}

// The first N examples of the run's [data] split: no augmentation is ever applied here.
Dataset run_examples(const std::string& ckpt, const CaptureArgs& a) {
  if (a.split != "train" && a.split != "test") throw_bad_input("--split must be train or test, got '" + a.split + "'");
  const std::string run = run_dir_of_checkpoint(ckpt);
  auto cfg = read_run_config(run);
  if (!cfg.contains("config") || !cfg["config"].is_object()) throw_bad_input(run + "/config.json: no 'config' tree");
  nlohmann::json tree = cfg["config"];
  for (const auto& s : a.sets) {
    if (s.rfind("data.", 0) != 0) throw_bad_input("--set " + s + ": only data.* keys can be overridden here");
    apply_override(tree, s);
  }
  ConfigReader root(tree, run + "/config.json");
  ConfigReader section = root.section("data");
  DataSpec spec = read_data_spec(section);
  // Only the first N are needed; subsets keep the full-set normalisation.
  auto& subset = a.split == "train" ? spec.train_subset : spec.test_subset;
  if (a.n > 0 && (subset == 0 || subset > a.n)) subset = a.n;
  DataSplit split = load_data(spec);
  return a.split == "train" ? std::move(split.train) : std::move(split.test);
}

CapturedActivations capture_checkpoint(const std::string& ckpt, const Dataset& data, const CaptureOptions& o) {
  auto net = load_network(ckpt, o.device);
  auto acts = capture_activations(*net, data, o);
  acts.meta["source"] = {{"checkpoint", ckpt}, {"run", run_dir_of_checkpoint(ckpt)}, {"arch", net->arch()}};
  return acts;
}

// A source: an activation folder, or a checkpoint captured on `shared` data (loaded on first use
// from the first checkpoint's run, so that every model sees the same examples).
CapturedActivations load_source(const std::string& src, const CaptureArgs& a, torch::Device device,
                                std::unique_ptr<Dataset>& shared) {
  if (is_activation_dir(src)) return load_activations(src);
  if (!file_exists(src)) throw_bad_input(src + ": no such checkpoint or activation folder");
  if (!shared) shared = std::make_unique<Dataset>(run_examples(src, a));
  return capture_checkpoint(src, *shared, to_capture_options(a, device));
}

std::string base_name(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const auto slash = p.find_last_of('/');
  std::string b = slash == std::string::npos ? p : p.substr(slash + 1);
  const auto dot = b.rfind(".pt");
  if (dot != std::string::npos && dot + 3 == b.size()) b = b.substr(0, dot);
  return b;
}

const CommandRegistrar reg(40, [](CLI::App& app) {
  // ---- similarity -----------------------------------------------------------------------------
  {
    struct Args {
      CommonOptions common;
      MeasureArgs m;
      std::string a, b, out;
      bool neuron_major = false;
      std::string layout = "nchw";
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("similarity", "Similarity of two activation matrices (.npy, examples x features)");
    cmd->add_option("A", args->a, "First activations (.npy, float32/float64, 2-D)")->required();
    cmd->add_option("B", args->b, "Second activations (same examples, same order)")->required();
    add_measure_options(cmd, args->m, false);
    cmd->add_flag("--neuron-major", args->neuron_major, "Inputs are neurons x examples (google/svcca layout)");
    cmd->add_option("--layout", args->layout,
                    "dft-cca: layout of the 4-D inputs, nchw (LibTorch) or nhwc (google/svcca's [N, H, W, C])")
        ->capture_default_str();
    cmd->add_option("--out", args->out, "Also write the JSON result to this file");
    add_common_options(cmd, args->common);
    cmd->callback([args] {
      apply_common_options(args->common);
      const Measure m = parse_measure(args->m.measure);
      const SimilarityOptions o = to_options(args->m);
      const SpatialLayout layout = parse_layout(args->layout);
      SimilarityResult r;
      if (is_spatial(m)) {
        // dft-cca: 4-D conv activations, always google/svcca semantics (--epsilon, --threshold).
        if (args->neuron_major) throw_bad_input("--neuron-major does not apply to dft-cca; use --layout nchw|nhwc");
        auto read4 = [](const std::string& path) {
          auto t = read_npy(path);
          if (t.scalar_type() != torch::kFloat32 && t.scalar_type() != torch::kFloat64)
            throw_bad_input(path + ": expected float32 or float64 activations, got " +
                            std::string(c10::toString(t.scalar_type())));
          return t;
        };
        r = dft_cca_similarity(read4(args->a), read4(args->b), o, layout, args->a, args->b);
      } else {
        if (layout != SpatialLayout::Nchw)
          throw_bad_input("--layout applies to dft-cca (4-D inputs) only; " + measure_name(m) +
                          " takes 2-D matrices (--neuron-major for google's neurons x examples)");
        const auto x = read_activation_npy(args->a, args->neuron_major);
        const auto y = read_activation_npy(args->b, args->neuron_major);
        r = similarity(x, y, m, o, args->a, args->b);
      }
      auto j = r.to_json();
      j["a"] = args->a;
      j["b"] = args->b;
      if (!args->out.empty()) write_json(args->out, j);
      std::cout << j.dump(2) << std::endl;
    });
  }
  // ---- activations ----------------------------------------------------------------------------
  {
    struct Args {
      CommonOptions common;
      CaptureArgs c;
      std::string ckpt, out;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("activations",
                                   "Capture every probe point of a checkpoint on the first N examples (eval mode)");
    cmd->add_option("CKPT", args->ckpt, "<run>/checkpoints/<tag>.pt")->required();
    cmd->add_option("--out", args->out, "Output folder (activations.json + one float32 .npy per layer)")->required();
    add_capture_options(cmd, args->c);
    add_common_options(cmd, args->common);
    cmd->callback([args] {
      const auto device = apply_common_options(args->common);
      const Dataset data = run_examples(args->ckpt, args->c);
      auto acts = capture_checkpoint(args->ckpt, data, to_capture_options(args->c, device));
      save_activations(args->out, acts);
      nlohmann::json j = {{"out", args->out}, {"examples", acts.meta["examples"]},
                          {"conv_mode", acts.meta["conv_mode"]}, {"layers", nlohmann::json::array()}};
      for (const auto& [name, t] : acts.layers)
        j["layers"].push_back({{"name", name}, {"rows", t.size(0)}, {"features", t.size(1)}});
      std::cout << j.dump(2) << std::endl;
    });
  }
  // ---- similarity-map -------------------------------------------------------------------------
  {
    struct Args {
      CommonOptions common;
      MeasureArgs m;
      CaptureArgs c;
      std::string a, b, out, reference = "next";
      std::vector<std::string> checkpoints;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand(
        "similarity-map",
        "Layer x layer map between two models (--a, --b) or layer x checkpoint map over one run (--checkpoints)");
    cmd->add_option("--a", args->a, "Rows: a checkpoint or an activation folder");
    cmd->add_option("--b", args->b, "Columns: a checkpoint or an activation folder");
    cmd->add_option("--checkpoints", args->checkpoints, "Checkpoints or activation folders of one run, in order");
    cmd->add_option("--reference", args->reference,
                    "With --checkpoints: compare each with the next, or with first, last or an index")
        ->capture_default_str();
    cmd->add_option("--out", args->out, "Output folder: <measure>.npy/.csv/.json per measure")->required();
    add_measure_options(cmd, args->m, true);
    add_capture_options(cmd, args->c);
    add_common_options(cmd, args->common);
    cmd->callback([args] {
      const auto device = apply_common_options(args->common);
      const auto measures = parse_measures(args->m.measure);
      for (Measure m : measures)
        if (is_spatial(m))
          throw_bad_input("similarity-map: " + measure_name(m) +
                          " needs 4-D conv activations [N, C, H, W], but maps compare captured 2-D layer matrices "
                          "(--conv-mode gap/spatial/flatten); use `closerlook similarity A.npy B.npy --measure "
                          "dft-cca` on 4-D NPY files");
      const SimilarityOptions o = to_options(args->m);
      const bool pair = !args->a.empty() || !args->b.empty();
      if (pair == !args->checkpoints.empty())
        throw_bad_input("similarity-map: give either --a and --b, or --checkpoints");
      std::unique_ptr<Dataset> shared;
      std::vector<SimilarityMap> maps;
      nlohmann::json sources = nlohmann::json::array();
      if (pair) {
        if (args->a.empty() || args->b.empty()) throw_bad_input("similarity-map: --a and --b go together");
        auto a = load_source(args->a, args->c, device, shared);
        auto b = load_source(args->b, args->c, device, shared);
        sources = {{{"path", args->a}, {"meta", a.meta}}, {{"path", args->b}, {"meta", b.meta}}};
        maps = layer_by_layer(a.layers, b.layers, measures, o);
      } else {
        std::vector<CheckpointActivations> cks;
        for (const auto& src : args->checkpoints) {
          auto acts = load_source(src, args->c, device, shared);
          sources.push_back({{"path", src}, {"meta", acts.meta}});
          cks.push_back({base_name(src), std::move(acts.layers)});
        }
        maps = layer_by_checkpoint(cks, measures, parse_checkpoint_reference(args->reference), o);
      }
      nlohmann::json summary = {{"out", args->out}, {"maps", nlohmann::json::array()}};
      for (auto& m : maps) {
        m.settings["sources"] = sources;
        const std::string prefix = args->out + "/" + measure_name(m.measure);
        write_similarity_map(m, prefix);
        summary["maps"].push_back({{"measure", measure_name(m.measure)},
                                   {"files", {prefix + ".npy", prefix + ".csv", prefix + ".json"}},
                                   {"rows", m.row_names},
                                   {"cols", m.col_names},
                                   {"warnings", m.warnings.size()}});
      }
      std::cout << summary.dump(2) << std::endl;
    });
  }
});

}  // namespace
}  // namespace closerlook
