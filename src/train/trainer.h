// Training any Network: schedules applied every iteration, freezing, KD, checkpoints (tags of
// run_dir.h), per-epoch metrics, exact resume from "last", divergence detection and SIGINT/SIGTERM
// handling. The network is one TrainTarget of the shared engine (train/train_loop.h). It knows
// nothing about config files or how the network and data were made (see run_training.h), so tests
// drive it with tiny nets.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "models/network.h"
#include "train/evaluate.h"
#include "train/train_loop.h"
#include "train/train_spec.h"

namespace closerlook {

// Training batches as a pure function of (epoch, index): the loop's only data dependency,
// so that a resumed run sees exactly the batches an uninterrupted run would have seen.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t num_batches() const = 0;
  // On any device; the trainer moves them to its own (a no-op when the data already live there).
  virtual Batch batch(int64_t epoch, int64_t index) = 0;
};

struct RunOptions {
  torch::Device device = torch::kCPU;
  bool quiet = false;
  // Called after backward() and before the optimizer step (e.g. a data-parallel gradient all-reduce).
  std::function<void(Network&)> after_backward;
  // Data-parallel training (not owned; see DataParallelHooks). run_training shards the loader.
  DataParallelHooks* data_parallel = nullptr;
  // Write <tag>.state.pt (optimizer state, resume only) next to every tagged checkpoint, not only
  // the rolling "last" (reproduce's keep policy turns it off: studies/pipeline.h KeepPolicy).
  bool tag_states = true;
};

// The loop's result (status, position, checkpoints, seconds; last_loss is not recorded) and the
// network's metrics.
struct TrainSummary : LoopResult {
  EvalResult train, test;              // after the last completed epoch
  nlohmann::json to_json() const;      // summary.json (train/run_dir.h)
  // The inverse (fields absent from older files read as 0; Error(BadInput) prefixed by `where`
  // for a malformed one).
  static TrainSummary from_json(const nlohmann::json& j, const std::string& where);
};

struct TrainInputs {
  Network* net = nullptr;              // trained in place
  Network* teacher = nullptr;          // KD teacher (null: cross-entropy only)
  BatchSource* batches = nullptr;      // augmented training batches
  const Dataset* train_eval = nullptr; // un-augmented training set (first eval_train_subset examples)
  const Dataset* test = nullptr;
  TrainSpec spec;
  uint64_t seed = 0;                   // torch::manual_seed at a fresh start (dropout)
  std::string config_hash;             // recorded in summary.json
};

// Trains into `out_dir` (created), resuming from checkpoints/last.state.pt if present. The caller
// is responsible for checking that an existing folder belongs to the same config.
// Writes metrics.jsonl, summary.json and checkpoints; returns the summary. A NaN/inf loss gives
// status "diverged". SIGINT/SIGTERM: writes "last" and an "interrupted" summary, then throws
// Error(ExitCode::Interrupted).
TrainSummary train_network(const TrainInputs& in, const std::string& out_dir, const RunOptions& opts);

// Names of the parameters of `net` matched by `prefixes` (Error(BadInput) names a prefix that
// matches nothing).
std::vector<std::string> frozen_parameter_names(Network& net, const std::vector<std::string>& prefixes);

}  // namespace closerlook
