// The `reproduce` preset: one TOML file (configs/presets/<name>.toml) describing the common
// recipe ([data], [model], [train] = the reference mode G) and each study's deviations from it.
// Every table is validated; unknown keys are errors naming the preset file and the key.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/load.h"
#include "surface/curve_training.h"
#include "surface/point_eval.h"

namespace closerlook {

struct EvalPreset {          // [eval]: loss-surface evaluation
  int points = 11;           // points along every line and curve (ends included)
  int plane_grid = 7;
  double plane_margin = 0.2;
  // The SGDR plane's fast train method (docs/surface.md "Fast planes"): > 0 = control variates at
  // the plane's three points and an adaptive subset of at most train_samples examples, stopped at
  // this relative standard error of the train NLL; 0 = off (every cell as a line's point).
  double plane_train_rel_se = 0;
  EvalSettings settings;     // bn_samples, train_samples, test_samples, batch sizes
};

// [curve]: mode-connecting curve training reads into CurveTrainOptions (surface/curve_training.h)
// itself: type, bends, epochs, lr, momentum, weight_decay, batch_size (the seed is each step's).

struct SimilarityPreset {    // [similarity]
  int64_t examples = 500;    // first N training images, no augmentation
  std::string conv_mode = "gap";
  std::vector<std::string> measures = {"svcca", "pwcca", "cka-linear"};
  std::string primary = "svcca";  // the measure the claims are decided with
};

struct SgdrPreset {          // [sgdr]: study 1
  int64_t epochs = 7;
  int64_t t0 = 1, tmult = 2;
  double lr = 0.05, eta_min = 1e-6;
  std::vector<int64_t> sgd_milestones = {3, 5};  // the step-decay SGD counterpart
  // Thresholds (docs/studies.md, study 1). Train-loss barriers are relative: barrier height /
  // mean endpoint train loss (claims_sgdr.h relative_barrier).
  double barrier_rel = 0.05;         // relative line barrier that counts: the null of the barrier claims
  double curve_fraction = 0.25;      // sgdr.curve_connects: curve barrier below this fraction of the line's
  double contrast_margin = 0.05;     // sgdr.sgdr_vs_sgd_barrier: equivalence margin (relative barrier)
  double contrast_margin_err = 0.01; // sgdr.sgdr_vs_sgd_barrier_err: equivalence margin (test-error fraction)
  double overfit_margin = 0.005;     // sgdr.curve_overfits: equivalence margin (test-error fraction)
  double plane_max_off = 0.5;        // sgdr.plane_trajectory: off-plane / ||w_b - w_a|| beyond which: weak evidence
};

struct ClaimsPreset {        // [claims]: the verdict rule (studies/verdict.h)
  double level = 0.95;       // two-sided level of every claim's interval
};

struct ResiliencePreset {    // [resilience]: study 2
  std::vector<std::string> modes = {"A", "B", "C", "D", "E", "F"};
  int64_t large_batch = 1024;        // A
  double adam_lr = 1e-3;             // B
  double small_weight_decay = 5e-5;  // D
  double init_scale = 3.0;           // E
  // [resilience.model] overrides for G and every mode (e.g. batchnorm = true): the study compares
  // training recipes, so it may run on another network than the SGDR study's.
  nlohmann::json model = nlohmann::json::object();
  double tolerance = 0.02;           // allowed test-error rise along a curve (fraction)
};

struct WarmupPreset {        // [warmup]: study 3
  int64_t epochs = 4;
  int64_t small_batch = 100, large_batch = 1000;
  double small_lr = 0.05, large_lr = 0.5;
  int64_t warmup_iters = 8;          // the warmup window (also the FC-freeze window)
  std::vector<std::string> freeze_prefixes = {"classifier."};
  nlohmann::json model = nlohmann::json::object();  // [warmup.model] overrides (e.g. batchnorm = false)
  int deep_layers = 3;               // how many of the last probe points count as "deep"
  // warmup.deep_layers_stabilised (claims_warmup.h): the deep layers' share of the change over
  // the window, large batch minus large batch + warmup.
  std::string decide_by = "similarity";  // "similarity" (1 - [similarity] primary) | "weights" (||W_T - W_0|| / ||W_0||)
  int64_t resamples = 100;           // bootstrap resamples over the captured examples (within-run se)
  int64_t floor_permutations = 3;    // noise floor: similarity with the examples permuted, this many times
  double floor_z = 2.0;              // a similarity within floor + floor_z x sd of the floor is "at the floor"
  double margin = 0.05;              // smallest share contrast that counts (the share is in [-1, 1])
  double control_lr = 0.05;          // --controls: the large batch at this (stable) LR, +- warmup, + freeze
  // warmup.sharpness_2eta (claims_warmup.h): lambda_max during training (train.curvature_*) of
  // every arm at iterations 0, every, 2 every, ... <= curvature_until of the large batch (the
  // small batch at the same epochs). 0 = off (no curvature, no sharpness claim).
  int64_t curvature_every = 0;
  int64_t curvature_until = 0;       // 0: 2 x warmup_iters
  int64_t curvature_examples = 128;  // the first N un-augmented training images ...
  int64_t curvature_batch = 64;      // ... in batches: one Lanczos each, se over them
  int64_t curvature_steps = 6;       // Lanczos iterations (warm-started from the previous point)
  bool curvature_per_layer = false;  // also each block's lambda_max (one more product per block and step)
  double sharpness_margin = 0.1;     // smallest contrast of max lambda eta / 2 that counts (1 = the bound)
  // warmup.deep_curvature: smallest excess of the deep blocks' share of the top eigenvector over
  // their share of the parameters that counts (share units, in [0, 1]).
  double deep_curvature_margin = 0.05;
};

struct DistillPreset {       // [distill]: study 4
  int64_t teacher_epochs = 4, student_epochs = 4;
  nlohmann::json teacher_model = nlohmann::json::object();  // [distill.teacher_model] overrides
  nlohmann::json student_model = nlohmann::json::object();  // [distill.student_model] overrides
  double temperature = 4.0, alpha = 0.9;
  // The per-layer gain sim(S_d, T) - sim(S_i, T) and its bootstrap over the captured examples.
  std::string measure = "cka-linear";  // any 2-D measure (not dft-cca); need not be in [similarity] measures
  int64_t resamples = 200;             // bootstrap resamples (B), seeded from the run seed
  double margin = 0.02;                // smallest gain / deep-vs-shallow contrast that counts (similarity units)
};

struct AlignPreset {         // [align]: aligned line barriers between networks of different runs (issue 17)
  std::string method = "weights";  // none (no aligned steps) | weights | activations (surface/aligned_endpoints.h)
  uint64_t seed = 0;               // weights: the group order; activations: the image subset
  int64_t max_iterations = 100;    // weights: sweeps over the groups
  int64_t samples = 512;           // activations: training images correlated
};

struct ReproduceConfig {
  std::string source;        // preset file
  nlohmann::json tree;       // the whole preset after --set overrides (hashed into every step)
  uint64_t seed = 0;
  nlohmann::json data, model, train;  // passed through to read_train_config (validated there)
  DataSpec data_spec;
  EvalPreset eval;
  CurveTrainOptions curve{.epochs = 2};  // [curve]; the preset's default length is 2 epochs
  SimilarityPreset similarity;
  SgdrPreset sgdr;
  ResiliencePreset resilience;
  WarmupPreset warmup;
  DistillPreset distill;
  ClaimsPreset claims;
  AlignPreset align;
  std::vector<std::string> studies = {"sgdr", "resilience", "warmup", "distill"};

  // A complete training tree (seed, data, model, train) for the common recipe with `train_over`
  // merged into [train] and `model_over` into [model] (JSON merge-patch).
  nlohmann::json run_tree(uint64_t seed, const nlohmann::json& train_over,
                          const nlohmann::json& model_over = nlohmann::json::object(),
                          const nlohmann::json& data_over = nlohmann::json::object()) const;
};

// Finds a preset: an existing path, or <presets_dir>/<name>.toml.
std::string find_preset(const std::string& name_or_path, const std::string& presets_dir);
ReproduceConfig load_reproduce_config(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace closerlook
