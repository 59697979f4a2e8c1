// The one training engine: TrainLoop drives any TrainTarget (a plain network, train/trainer.h;
// a mode-connecting curve, surface/curve_training.h) through
//   resume     from <out>/checkpoints/last.state.pt (the target reads its own state), metrics.jsonl
//              truncated to the resumed epoch; a folder that already holds the finished result is
//              left as is;
//   steps      lr/freeze (prepare_step), forward + backward (gradients in network()), the
//              data-parallel gradient reduction, the target's own gradients (e.g. the curve's
//              chain rule), the optimizer step;
//   sync       the detached losses are summed on the device and read once per window (every
//              `sync_every` iterations, at the end of an epoch and at iteration checkpoints):
//              no host synchronisation in between. With sync_every == 1 the loss is read before
//              the optimizer step, so a diverging step is never applied;
//   epochs     end-of-epoch evaluation by the target, one metrics.jsonl row, epoch checkpoints,
//              the rolling "last" state;
//   failures   a non-finite loss (window or end-of-epoch evaluation) ends with status "diverged";
//              SIGINT/SIGTERM write a resumable state and an "interrupted" summary and throw
//              Error(ExitCode::Interrupted) (exit 130).
// Only rank 0 of a data-parallel run writes files; with an empty out_dir nothing is written or read.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/network.h"
#include "train/run_status.h"

namespace closerlook {

// How a data-parallel driver (src/dist/data_parallel.h) takes part in training. The loop calls
// these at points where every rank is at the same iteration; null = one process.
class DataParallelHooks {
 public:
  virtual ~DataParallelHooks() = default;
  virtual int rank() const = 0;   // this process takes slice `rank` of `world` of every global batch;
  virtual int world() const = 0;  // only rank 0 writes files (the others still read a run folder to resume)
  // Before the first step (after a resume was loaded), e.g. broadcast the weights from rank 0.
  virtual void on_start(Network& net, int64_t start_iter) = 0;
  // After backward(): makes the gradients those of the global batch and returns the global
  // batch's mean loss, given this rank's mean loss over its `local_examples` examples.
  virtual torch::Tensor reduce_gradients(Network& net, const torch::Tensor& local_loss, int64_t local_examples) = 0;
  // Before end-of-epoch evaluation and iteration checkpoints, e.g. average BN running statistics.
  virtual void sync_state(Network& net) = 0;
};

struct CheckpointRecord {
  std::string tag;
  int64_t iter = 0, epoch = 0;
};
// {"tag", "iter", "epoch"}: the progress record of a state file and summary.json's checkpoints.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CheckpointRecord, tag, iter, epoch)

// One minibatch's forward + backward.
struct StepLoss {
  torch::Tensor loss;    // detached 0-dim mean loss of the batch, on the training device (not read)
  int64_t examples = 0;  // this rank's examples; 0: the batch is skipped (no optimizer step)
};

// What the loop knows when an epoch ends.
struct EpochInfo {
  int64_t epoch = 0;          // 1-based: the epoch that just ended
  int64_t iter = 0;           // iterations done
  double lr = 0;              // of the epoch's last step
  std::chrono::steady_clock::time_point start;  // when the epoch (this session's part) began
  double train_seconds = 0;   // the steps' time, up to the window reads (the device's real pace)
  int64_t images = 0;         // examples stepped this session in this epoch
  double seconds_so_far() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
};

struct EpochResult {
  nlohmann::json metrics;  // the metrics.jsonl row
  double loss = 0;         // the value checked for divergence
};

struct LoopResult {
  RunStatus status = RunStatus::Completed;
  bool already_done = false;   // the folder already held the finished result (nothing ran)
  int64_t iter = 0, epoch = 0; // position reached (epoch = iter / iterations per epoch)
  int64_t diverged_iter = -1;
  double last_loss = std::numeric_limits<double>::quiet_NaN();  // of the last window read
  std::vector<CheckpointRecord> checkpoints;
  double seconds = 0;          // training time over all sessions
};

// What the loop trains. Everything about files' contents, models and data is here; everything
// about when (resume, steps, windows, epochs, checkpoints, signals) is in TrainLoop.
class TrainTarget {
 public:
  virtual ~TrainTarget() = default;
  virtual int64_t batches_per_epoch() const = 0;
  // The network forward/backward run in (the data-parallel hooks work on its gradients/buffers).
  virtual Network& network() = 0;
  // What the optimizer updates; the loop drops their gradients before every step.
  virtual std::vector<torch::Tensor> parameters() = 0;
  virtual torch::optim::Optimizer& optimizer() = 0;

  // A fresh start (no state file); `rank` of a data-parallel run (0 otherwise).
  virtual void fresh_start(int /*rank*/) {}
  // Restores checkpoints/last.state.pt of `out_dir` if present: sets `iter` and the loop's
  // `progress` record (as given to save()); false when there is none.
  virtual bool load_last(const std::string& out_dir, int64_t& iter, nlohmann::json& progress) = 0;
  // After a resume at the last iteration: true when the folder holds the finished result and
  // should be left as is (the target keeps what it needs from it).
  virtual bool finished(const std::string& /*out_dir*/) { return false; }
  // Whether a state written in the middle of an epoch resumes exactly. False: an interruption
  // keeps the state of the last completed epoch, and the rerun repeats the partial epoch.
  virtual bool resumes_mid_epoch() const { return true; }

  virtual void begin_epoch(int64_t /*epoch0*/) {}  // 0-based epoch about to run (or resume)
  // The weights after `iter` steps, before step `iter` (and once after the last step, iter =
  // the run's length); rank 0 only. E.g. curvature tracking (train.curvature_every). Must leave
  // the training state as it found it.
  virtual void observe(int64_t /*iter*/) {}
  virtual double prepare_step(int64_t iter) = 0;   // sets the step's lr (and freezing); returns the lr
  virtual StepLoss forward_backward(int64_t epoch0, int64_t index) = 0;
  // Between the (reduced) network gradients and the optimizer step: e.g. the curve's chain rule.
  virtual void before_optimizer_step() {}
  virtual void after_optimizer_step() {}
  virtual EpochResult end_epoch(const EpochInfo& info) = 0;

  // Checkpoint tags: at iteration 0, after epoch E, at completion (saved if not saved yet).
  virtual std::vector<std::string> start_tags() { return {}; }
  virtual std::vector<std::string> epoch_tags(int64_t /*E*/) { return {}; }
  virtual std::vector<std::string> final_tags() { return {}; }
  // Writes checkpoint `tag` ("last": the rolling resumable state) at `iter`; `progress` is the
  // loop's record (checkpoints, seconds) merged with progress_extra().
  virtual void save(const std::string& out_dir, const std::string& tag, int64_t iter, const nlohmann::json& progress) = 0;
  virtual nlohmann::json progress_extra() const { return nlohmann::json::object(); }
  virtual std::string done_text() const { return ""; }  // the progress line's last words
  // summary.json for the loop's state.
  virtual nlohmann::json summary_json(const LoopResult& r) const = 0;
};

struct LoopOptions {
  int64_t epochs = 1;
  std::string out_dir;                       // "" = no files (and no resume)
  torch::Device device = torch::kCPU;        // where the loss window is summed
  int64_t sync_every = 20;                   // iterations between host reads of the loss
  std::vector<int64_t> checkpoint_iters;     // "iter-<I>" checkpoints
  int64_t stop_after_epochs = 0;             // end the session after this many epochs in total (0: no)
  std::string progress_label = "train";
  bool quiet = false;
  DataParallelHooks* data_parallel = nullptr;
  // Called after the gradient reduction and before the target's own gradients.
  std::function<void(Network&)> after_backward;
};

class Progress;

// Trains `target` as described at the top: TrainLoop(target, opts).run(). Returns the loop's
// result (the target holds the rest); on SIGINT/SIGTERM throws Error(ExitCode::Interrupted)
// after writing the state. One object per run.
class TrainLoop {
 public:
  TrainLoop(TrainTarget& target, LoopOptions opts);
  LoopResult run();

 private:
  bool resume();                          // true when the folder already holds the finished result
  void save_checkpoint(const std::string& tag);
  void write_summary(RunStatus status);
  bool read_window();                     // one host sync; false when the window's loss is not finite
  LoopResult diverge();
  [[noreturn]] void interrupt(int sig);
  double seconds_now() const;
  nlohmann::json progress_json() const;

  TrainTarget& target_;
  LoopOptions opts_;
  DataParallelHooks* dp_;
  bool writer_, files_;
  int64_t ipe_ = 0, total_ = 0, iter_ = 0;
  LoopResult r_;
  double seconds_before_ = 0;
  std::chrono::steady_clock::time_point session_start_;
  torch::Tensor window_;
  int64_t window_n_ = 0;
  Progress* progress_ = nullptr;
};

// Keeps the rows of metrics.jsonl with "epoch" <= max_epoch.
void truncate_metrics(const std::string& path, int64_t max_epoch);

}  // namespace closerlook
