// Loss and error at one point of weight space: load the weights, recalibrate BatchNorm, then
// evaluate train and test sets in eval mode. The evaluator prepares its data once (subsets
// gathered, tensors on the device) and is reused for every point of a line, curve or plane.
//
// Conventions (shared by every surface output):
//   *_nll  mean cross-entropy (nats)
//   *_loss *_nll + 0.5 * weight_decay * ||w||^2 (Garipov's "loss"; with weight_decay = 0 the two agree)
//   *_err  classification error as a FRACTION in [0, 1] (dnn-mode-connectivity stores percent)
#pragma once
#include <torch/torch.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "data/dataset.h"
#include "models/network.h"
#include "train/evaluate.h"

namespace closerlook {

class FoldedNetwork;

struct EvalSettings {
  int64_t bn_samples = 0;       // examples for BN recalibration; 0 = the whole training set
  int64_t train_samples = 0;    // examples for train loss/error; 0 = all; < 0 = skip train metrics
  int64_t test_samples = 0;     // examples for test loss/error; 0 = all; < 0 = skip test metrics
  int64_t batch_size = 128;     // evaluation batch (no effect on the values; on CPU 128 runs ~1.35x faster than 500)
  int64_t bn_batch_size = 128;  // recalibration batch, as Garipov's loaders (running_var averages per-batch variances)
  double weight_decay = 0.0;    // for *_loss
  // Subsets are the first N examples of one seeded permutation of the training set (so the BN
  // subset lies inside the train-loss subset). Full sets are used in their own order.
  uint64_t subset_seed = 0;
  // The evaluation engine (surface/bn_folding.h): eval-mode passes with BN folded into the conv /
  // linear before it, channels-last, and the recalibration pass channels-last under InferenceMode,
  // for the built-in VGG / ResNet / MLP; other networks use the plain path. The values equal the
  // plain path's up to float rounding (<= 1e-5 relative on losses), so it is not part of
  // to_json (setup hashes of planes and studies do not change with it).
  bool fast_engine = true;
  // float32 | bf16: the train and test passes under autocast (train/precision.h); BN statistics
  // are recomputed in float32. Part of to_json when not float32 (it changes the values).
  std::string precision = "float32";
  // Adaptive train sample (the fast plane method, docs/surface.md "Evaluation speed"): when > 0 and
  // train_samples > 0, the train pass reads the subset in chunks of train_chunk examples and stops
  // once the relative standard error of the train NLL (after the control variates, when set) is
  // <= train_rel_se; train_samples is then the most it reads. Part of to_json when set.
  double train_rel_se = 0;
  int64_t train_chunk = 2048;
  // Control variates for the train NLL (the fast plane method): the caller sets them
  // (set_train_controls; a plane job takes them at its anchor points, plane_train_controls in
  // plane.h). Needs train_samples > 0. Part of to_json when set.
  bool train_controls = false;
  nlohmann::json to_json() const;
  // "full" (the whole training set), "subset", "adaptive subset", "control variates" or
  // "control variates, adaptive": how the train metrics are estimated (plane.json "train_method").
  std::string train_method() const;
};

struct PointMetrics {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  double tr_loss = kNaN, tr_nll = kNaN, tr_err = kNaN;
  double te_loss = kNaN, te_nll = kNaN, te_err = kNaN;
  double weight_norm = kNaN;    // ||w||_2 of the parameters
  // The train NLL's standard error over the examples read (a subset's sampling error, after the
  // control variates when set; 0 for the whole set) and how many examples were read. Not in to_json.
  double tr_nll_se = kNaN;
  int64_t tr_examples = 0;
  nlohmann::json to_json() const;
};

// The metric names in the order used by CSV/NPY columns: tr_loss tr_nll tr_err te_loss te_nll te_err.
const std::vector<std::string>& metric_keys();
double metric_value(const PointMetrics& m, const std::string& key);
void set_metric_value(PointMetrics& m, const std::string& key, double v);

class PointEvaluator {
 public:
  // `net` is the working network whose parameters are overwritten at every point; it must
  // outlive the evaluator. The data are copied/gathered onto `device` once.
  PointEvaluator(Network& net, const DataSplit& data, torch::Device device, const EvalSettings& settings);

  // Loads `flat` (any float dtype, parameter order) into the network, recalibrates BN, evaluates.
  PointMetrics evaluate_flat(const torch::Tensor& flat);
  // Recalibrates BN at the network's current parameters, then evaluates.
  PointMetrics evaluate_current();

  // Control variates for a train subset (the fast plane method): `per_example_nll` are K vectors,
  // each the per-example NLL of the WHOLE training set (dataset order) under some fixed weights
  // (e.g. the plane's three points). The train NLL of a subset S is then estimated as
  //   mean_S(l) - sum_k beta_k (mean_S(c_k) - mean(c_k)),  beta = least squares of l on c over S,
  // which is unbiased to O(1/|S|) and has the variance of the regression's residual. Empty: none.
  void set_train_controls(const std::vector<torch::Tensor>& per_example_nll);
  bool has_train_controls() const { return controls_.defined(); }
  // Per-example NLL (float64, N) of `ds` at the network's current weights and BN state, eval mode.
  torch::Tensor per_example_nll(const Dataset& ds);
  // Whether the eval-mode passes run on the folded engine (false: the plain path).
  bool uses_fast_engine() const { return static_cast<bool>(engine_); }

  Network& network() { return net_; }
  const EvalSettings& settings() const { return settings_; }
  int64_t bn_examples() const { return bn_images_.defined() ? bn_images_.size(0) : 0; }
  int64_t train_examples() const { return train_images_.defined() ? train_images_.size(0) : 0; }
  int64_t test_examples() const { return test_images_.defined() ? test_images_.size(0) : 0; }

  // Wall-clock seconds of the phases of the last evaluated point (for benchmarks).
  struct Timing {
    double bn = 0, train = 0, test = 0;
  };
  const Timing& last_timing() const { return timing_; }

 private:
  // The train layer's evaluation loop (train/evaluate.h) over tensors already on the device.
  EvalSums sums_of(const torch::Tensor& images, const torch::Tensor& labels);

  // The train pass with adaptive stopping and/or control variates (train_rel_se > 0 or controls set).
  void adaptive_train(PointMetrics& m);
  torch::Tensor forward_eval(const torch::Tensor& x);

  Network& net_;
  torch::Device device_;
  EvalSettings settings_;
  std::optional<torch::ScalarType> autocast_;  // settings_.precision, parsed once (nullopt: float32)
  Timing timing_;
  torch::Tensor bn_images_, train_images_, train_labels_, test_images_, test_labels_;
  torch::Tensor train_index_;             // dataset indices of train_images_ (int64)
  torch::Tensor controls_, control_means_;  // (n_train, K) on the subset; (K) over the whole set
  std::shared_ptr<FoldedNetwork> engine_;  // null: the plain path
};

}  // namespace closerlook
