// Representation-similarity commands (docs/similarity.md), option binding for similarity/jobs.h:
//   similarity A.npy B.npy --measure M      one pair; prints a JSON result
//   activations CKPT.pt --out DIR           captures every probe point as float32 .npy + index
//   similarity-map --a S --b S | --checkpoints S S ...   layer x layer / layer x checkpoint maps
// A source S is a checkpoint (<run>/checkpoints/<tag>.pt) or a folder written by `activations`.
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "similarity/jobs.h"

namespace closerlook {
namespace {

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// The options of SimilarityOptions, bound in place (defaults shown from `o` itself).
void add_similarity_options(CLI::App* cmd, SimilarityOptions& o) {
  cmd->add_option_function<std::string>("--compat", [&o](const std::string& s) { o.compat = parse_compat(s); },
                                        "clean, or google (google/svcca semantics for the CCA family)")
      ->default_str(compat_name(o.compat));
  cmd->add_option("--svcca-variance", o.svcca_variance, "SVCCA: keep directions explaining this variance fraction")
      ->capture_default_str();
  cmd->add_option("--svcca-dims", o.svcca_dims, "SVCCA: keep this many directions (0 = by variance)")
      ->capture_default_str();
  cmd->add_option("--rbf-threshold", o.rbf_threshold, "RBF CKA: sigma^2 = threshold^2 * median squared distance")
      ->capture_default_str();
  cmd->add_option("--epsilon", o.google_epsilon, "google mode: remove_small epsilon and eps*I regulariser")
      ->capture_default_str();
  cmd->add_option("--threshold", o.google_threshold, "google mode: sum_threshold fraction of the reported mean")
      ->capture_default_str();
  cmd->add_option("--rank-rtol", o.rank_rtol,
                  "Relative singular-value cutoff for rank deficiency (0 = 1e-6 for float32 input, 1e-12 for float64)")
      ->capture_default_str();
  cmd->add_flag_callback("--uncentred", [&o] { o.center = false; },
                         "CCA family: do not centre (reproduces Kornblith's demo cca)");
  cmd->add_option("--max-gram", o.max_gram_examples, "Largest n for which an n x n kernel matrix may be formed")
      ->capture_default_str();
  cmd->add_option_function<std::string>(
         "--precision", [&o](const std::string& p) { o.precision = parse_precision(p); },
         "Linear/debiased CKA maps: float64, or float32 GEMMs with float64 sums (faster; error in docs/similarity.md)")
      ->default_str(precision_name(o.precision));
}

// Where checkpoints' activations come from (CaptureSource).
void add_capture_options(CLI::App* cmd, CaptureSource& s) {
  CaptureOptions& c = s.capture;
  cmd->add_option("--n", c.examples, "Number of examples: the first N of the split (0 = all)")->capture_default_str();
  cmd->add_option_function<std::string>(
         "--conv-mode", [&c](const std::string& m) { c.conv_mode = parse_conv_mode(m); },
         "Conv layers as gap (N x C), spatial (N*H*W x C) or flatten (N x CHW)")
      ->default_str(conv_mode_name(c.conv_mode));
  cmd->add_option("--split", s.split, "train or test")->capture_default_str();
  cmd->add_option("--batch", c.batch, "Forward batch size")->capture_default_str();
  cmd->add_option("--spatial-stride", c.spatial_stride, "spatial mode: keep every s-th row and column")
      ->capture_default_str();
  cmd->add_option_function<std::string>("--probes", [&c](const std::string& p) { c.probes = split_commas(p); },
                                        "Comma-separated probe points (default: all)");
  cmd->add_option("--set", s.data_overrides, "Override a data key of the run: --set data.dir=/data/fmnist");
}

const CommandRegistrar reg(40, [](CLI::App& app) {
  // ---- similarity -----------------------------------------------------------------------------
  {
    struct Args {
      CommonOptions common;
      PairJob job;
    };
    auto args = std::make_shared<Args>();
    PairJob& job = args->job;
    auto* cmd = app.add_subcommand("similarity", "Similarity of two activation matrices (.npy, examples x features)");
    cmd->add_option("A", job.a, "First activations (.npy, float32/float64, 2-D)")->required();
    cmd->add_option("B", job.b, "Second activations (same examples, same order)")->required();
    cmd->add_option_function<std::string>(
           "--measure", [&job](const std::string& m) { job.measure = parse_measure(m); },
           "cca, svcca, pwcca, cka-linear, cka-rbf, cka-debiased, or dft-cca (4-D conv activations)")
        ->default_str(measure_name(job.measure));
    add_similarity_options(cmd, job.options);
    cmd->add_flag("--neuron-major", job.neuron_major, "Inputs are neurons x examples (google/svcca layout)");
    cmd->add_option_function<std::string>(
           "--layout", [&job](const std::string& l) { job.layout = parse_layout(l); },
           "dft-cca: layout of the 4-D inputs, nchw (LibTorch) or nhwc (google/svcca's [N, H, W, C])")
        ->default_str(layout_name(job.layout));
    cmd->add_option("--out", job.out, "Also write the JSON result to this file");
    add_common_options(cmd, args->common);
    cmd->callback([args] {
      apply_common_options(args->common);
      std::cout << run_similarity_pair(args->job).dump(2) << std::endl;
    });
  }
  // ---- activations ----------------------------------------------------------------------------
  {
    struct Args {
      CommonOptions common;
      ActivationsJob job;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("activations",
                                   "Capture every probe point of a checkpoint on the first N examples (eval mode)");
    cmd->add_option("CKPT", args->job.checkpoint, "<run>/checkpoints/<tag>.pt")->required();
    cmd->add_option("--out", args->job.out_dir, "Output folder (activations.json + one float32 .npy per layer)")
        ->required();
    add_capture_options(cmd, args->job.source);
    add_common_options(cmd, args->common);
    cmd->callback([args] {
      args->job.source.capture.device = apply_common_options(args->common);
      std::cout << run_activations(args->job).dump(2) << std::endl;
    });
  }
  // ---- similarity-map -------------------------------------------------------------------------
  {
    struct Args {
      CommonOptions common;
      SimilarityMapJob job;
    };
    auto args = std::make_shared<Args>();
    SimilarityMapJob& job = args->job;
    auto* cmd = app.add_subcommand(
        "similarity-map",
        "Layer x layer map between two models (--a, --b) or layer x checkpoint map over one run (--checkpoints)");
    cmd->add_option("--a", job.a, "Rows: a checkpoint or an activation folder");
    cmd->add_option("--b", job.b, "Columns: a checkpoint or an activation folder");
    cmd->add_option("--checkpoints", job.checkpoints, "Checkpoints or activation folders of one run, in order");
    cmd->add_option_function<std::string>(
           "--reference", [&job](const std::string& r) { job.reference = parse_checkpoint_reference(r); },
           "With --checkpoints: compare each with the next, or with first, last or an index")
        ->default_str("next");
    cmd->add_option("--out", job.out_dir, "Output folder: <measure>.npy/.csv/.json per measure")->required();
    cmd->add_option_function<std::string>(
           "--measure",
           [&job](const std::string& list) {
             job.measures.clear();
             for (const auto& m : split_commas(list)) job.measures.push_back(parse_measure(m));
             if (job.measures.empty()) throw_bad_input("--measure: no measure given");
           },
           "Comma-separated measures: cca, svcca, pwcca, cka-linear, cka-rbf, cka-debiased")
        ->default_str(measure_name(job.measures.front()));
    add_similarity_options(cmd, job.options);
    add_capture_options(cmd, job.source);
    add_common_options(cmd, args->common);
    cmd->callback([args] {
      args->job.source.capture.device = apply_common_options(args->common);
      std::cout << run_similarity_map(args->job).dump(2) << std::endl;
    });
  }
});

}  // namespace
}  // namespace closerlook
