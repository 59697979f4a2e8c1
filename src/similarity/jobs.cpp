#include "similarity/jobs.h"

#include <memory>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "data/load.h"
#include "similarity/similarity.h"
#include "train/run_data.h"
#include "train/run_dir.h"

namespace closerlook {

namespace {

// A source: an activation folder, or a checkpoint captured on `shared` data (loaded on first use
// from the first checkpoint's run, so that every model sees the same examples).
CapturedActivations load_source(const std::string& src, const CaptureSource& cs, std::unique_ptr<Dataset>& shared) {
  if (is_activation_dir(src)) return load_activations(src);
  if (!file_exists(src)) throw_bad_input(src + ": no such checkpoint or activation folder");
  if (!shared) shared = std::make_unique<Dataset>(run_examples(src, cs));
  return capture_checkpoint(src, *shared, cs.capture);
}

// A column of a layer x checkpoint map: the file name without ".pt", or the folder name.
std::string source_name(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const auto slash = p.find_last_of('/');
  std::string b = slash == std::string::npos ? p : p.substr(slash + 1);
  const auto dot = b.rfind(".pt");
  if (dot != std::string::npos && dot + 3 == b.size()) b = b.substr(0, dot);
  return b;
}

torch::Tensor read_4d(const std::string& path) {
  auto t = read_npy(path);
  if (t.scalar_type() != torch::kFloat32 && t.scalar_type() != torch::kFloat64)
    throw_bad_input(path + ": expected float32 or float64 activations, got " +
                    std::string(c10::toString(t.scalar_type())));
  return t;
}

}  // namespace

Dataset run_examples(const std::string& ckpt, const CaptureSource& source) {
  if (source.split != "train" && source.split != "test")
    throw_bad_input("--split must be train or test, got '" + source.split + "'");
  DataSpec spec = run_data_spec(run_dir_of_checkpoint(ckpt), source.data_overrides);
  // Only the first N are needed; subsets keep the full-set normalisation.
  const int64_t n = source.capture.examples;
  auto& subset = source.split == "train" ? spec.train_subset : spec.test_subset;
  if (n > 0 && (subset == 0 || subset > n)) subset = n;
  DataSplit split = load_data(spec);
  return source.split == "train" ? std::move(split.train) : std::move(split.test);
}

CapturedActivations capture_checkpoint(const std::string& ckpt, const Dataset& data, const CaptureOptions& opts) {
  auto net = load_network(ckpt, opts.device);
  auto acts = capture_activations(*net, data, opts);
  acts.meta["source"] = {{"checkpoint", ckpt}, {"run", run_dir_of_checkpoint(ckpt)}, {"arch", net->arch()}};
  return acts;
}

nlohmann::json run_similarity_pair(const PairJob& job) {
  validate_options(job.options);
  SimilarityResult r;
  if (is_spatial(job.measure)) {
    if (job.neuron_major) throw_bad_input("--neuron-major does not apply to dft-cca; use --layout nchw|nhwc");
    r = dft_cca_similarity(read_4d(job.a), read_4d(job.b), job.options, job.layout, job.a, job.b);
  } else {
    if (job.layout != SpatialLayout::Nchw)
      throw_bad_input("--layout applies to dft-cca (4-D inputs) only; " + measure_name(job.measure) +
                      " takes 2-D matrices (--neuron-major for google's neurons x examples)");
    const auto x = read_activation_npy(job.a, job.neuron_major);
    const auto y = read_activation_npy(job.b, job.neuron_major);
    r = similarity(x, y, job.measure, job.options, job.a, job.b);
  }
  auto j = r.to_json();
  j["a"] = job.a;
  j["b"] = job.b;
  if (!job.out.empty()) write_json(job.out, j);
  return j;
}

nlohmann::json run_activations(const ActivationsJob& job) {
  CL_CHECK_INPUT(!job.out_dir.empty(), "activations: --out is required");
  const Dataset data = run_examples(job.checkpoint, job.source);
  auto acts = capture_checkpoint(job.checkpoint, data, job.source.capture);
  save_activations(job.out_dir, acts);
  nlohmann::json j = {{"out", job.out_dir}, {"examples", acts.meta["examples"]},
                      {"conv_mode", acts.meta["conv_mode"]}, {"layers", nlohmann::json::array()}};
  for (const auto& [name, t] : acts.layers)
    j["layers"].push_back({{"name", name}, {"rows", t.size(0)}, {"features", t.size(1)}});
  return j;
}

nlohmann::json run_similarity_map(const SimilarityMapJob& job) {
  CL_CHECK_INPUT(!job.out_dir.empty(), "similarity-map: --out is required");
  CL_CHECK_INPUT(!job.measures.empty(), "similarity-map: no measure given");
  for (Measure m : job.measures)
    if (is_spatial(m))
      throw_bad_input("similarity-map: " + measure_name(m) +
                      " needs 4-D conv activations [N, C, H, W], but maps compare captured 2-D layer matrices "
                      "(--conv-mode gap/spatial/flatten); use `closerlook similarity A.npy B.npy --measure "
                      "dft-cca` on 4-D NPY files");
  validate_options(job.options);
  const bool pair = !job.a.empty() || !job.b.empty();
  if (pair == !job.checkpoints.empty()) throw_bad_input("similarity-map: give either --a and --b, or --checkpoints");
  std::unique_ptr<Dataset> shared;
  std::vector<SimilarityMap> maps;
  nlohmann::json sources = nlohmann::json::array();
  if (pair) {
    if (job.a.empty() || job.b.empty()) throw_bad_input("similarity-map: --a and --b go together");
    auto a = load_source(job.a, job.source, shared);
    auto b = load_source(job.b, job.source, shared);
    sources = {{{"path", job.a}, {"meta", a.meta}}, {{"path", job.b}, {"meta", b.meta}}};
    maps = layer_by_layer(a.layers, b.layers, job.measures, job.options);
  } else {
    std::vector<CheckpointActivations> cks;
    for (const auto& src : job.checkpoints) {
      auto acts = load_source(src, job.source, shared);
      sources.push_back({{"path", src}, {"meta", acts.meta}});
      cks.push_back({source_name(src), std::move(acts.layers)});
    }
    maps = layer_by_checkpoint(cks, job.measures, job.reference, job.options);
  }
  nlohmann::json summary = {{"out", job.out_dir}, {"maps", nlohmann::json::array()}};
  for (auto& m : maps) {
    m.settings["sources"] = sources;
    const std::string prefix = job.out_dir + "/" + measure_name(m.measure);
    write_similarity_map(m, prefix);
    summary["maps"].push_back({{"measure", measure_name(m.measure)},
                               {"files", {prefix + ".npy", prefix + ".csv", prefix + ".json"}},
                               {"rows", m.row_names},
                               {"cols", m.col_names},
                               {"warnings", m.warnings.size()}});
  }
  return summary;
}

}  // namespace closerlook
