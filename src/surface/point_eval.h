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

#include "data/dataset.h"
#include "models/network.h"
#include "train/evaluate.h"

namespace closerlook {

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
  nlohmann::json to_json() const;
};

struct PointMetrics {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  double tr_loss = kNaN, tr_nll = kNaN, tr_err = kNaN;
  double te_loss = kNaN, te_nll = kNaN, te_err = kNaN;
  double weight_norm = kNaN;    // ||w||_2 of the parameters
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

  Network& net_;
  torch::Device device_;
  EvalSettings settings_;
  Timing timing_;
  torch::Tensor bn_images_, train_images_, train_labels_, test_images_, test_labels_;
};

}  // namespace closerlook
