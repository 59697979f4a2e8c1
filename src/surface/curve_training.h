// Training a mode-connecting curve (Garipov et al. 2018) generically, by the chain rule:
// per minibatch, draw one t ~ U(0, 1), write w(t) = sum_j c_j(t) theta_j into an ordinary network,
// run forward + backward there, and give each free bend the gradient
//     dL/dtheta_j = c_j(t) (dCE/dw + wd w(t)),
// i.e. of CE + 0.5 wd ||w(t)||^2 (the penalty is on the point of the curve, not on the bends).
// The free bends are leaf tensors (rows of the curve's bend matrix) updated by a stock
// torch::optim::SGD (momentum, no dampening, no weight decay of its own); fixed endpoints never
// change. Learning rate per epoch: Garipov's schedule (flat to 50%, linear to 1% at 90%).
//
// The curve is one TrainTarget of the shared engine (train/train_loop.h), which owns resume,
// the step loop, divergence, SIGINT/SIGTERM, data-parallel hooks and the device sync policy.
//
// Device: the training set is put on `device` once and batched/augmented there (BatchLoader);
// loss, NLL and error are summed on the device; the loss is read once per window of steps
// (every step on the CPU, where reading costs nothing; every kCurveSyncSteps steps elsewhere). A
// non-finite loss ends training with status "diverged" at the read that sees it: on the CPU before
// the bends take that step; on a GPU up to a window later (the bends in memory may then hold those
// steps; the files keep the last completed epoch either way).
//
// Determinism/resume: batches come from BatchLoader (a function of (seed, epoch, index)), t from
// a counter-based stream keyed by (seed, epoch, index), and torch's generator (dropout) is
// reseeded from (seed, epoch) at each epoch start, so a run resumed from the state written at
// the end of an epoch continues exactly as an uninterrupted one. SIGINT/SIGTERM in the middle of
// an epoch keep that state (an "interrupted" summary, Error(ExitCode::Interrupted)); the rerun
// repeats the partial epoch.
//
// Data parallel (DataParallelHooks): every rank builds the same curve (same endpoints, same state
// file), takes its slice of every global batch, and the work network's gradients are all-reduced
// before the chain rule, so every rank applies the same update; a global batch with fewer than
// 2 examples per rank is skipped by all. The epoch's nll/err in the metrics are rank 0's slice.
#pragma once
#include <torch/torch.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "data/dataset.h"
#include "data/loader.h"
#include "models/network.h"
#include "surface/curve.h"
#include "train/train_loop.h"

namespace closerlook {

// Steps between host reads of the loss on a non-CPU device (divergence check, progress).
inline constexpr int64_t kCurveSyncSteps = 25;

// One struct for curve training: `closerlook connect` binds its options to it, the reproduce
// preset reads its [curve] table into it (studies/reproduce_config.h), and its JSON (the
// "curve" of a curve folder's config, hashed) is the one declaration below.
struct CurveTrainOptions {
  CurveType type = CurveType::Bezier;
  int bends = 3;
  int64_t epochs = 10;
  double lr = 0.015;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  int64_t batch_size = 128;
  uint64_t seed = 1;
  bool fix_start = true, fix_end = true;
  int64_t save_every = 0;  // also keep checkpoints/epoch-<E>.bends.npy every k epochs (0: no)
  // Not part of the configuration: end this session after this many epochs in total (0: run to
  // the end), with status "interrupted"; calling again resumes (time-boxing, tests).
  int64_t stop_after = 0;
  nlohmann::json to_json() const;  // the fields of NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE below
};

// A curve type in JSON: its name (curve_type_name / parse_curve_type).
inline void to_json(nlohmann::json& j, CurveType t) { j = curve_type_name(t); }
inline void from_json(const nlohmann::json& j, CurveType& t) { t = parse_curve_type(j.get<std::string>()); }
// Every field but stop_after (not part of the configuration).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CurveTrainOptions, type, bends, epochs, lr, momentum, weight_decay, batch_size,
                                   seed, fix_start, fix_end, save_every)

struct CurveTrainSummary {
  RunStatus status = RunStatus::Completed;
  bool already_done = false;   // the folder already held the finished curve
  int64_t epoch = 0;           // epochs completed
  double loss = std::numeric_limits<double>::quiet_NaN();   // last epoch's mean CE + 0.5 wd ||w(t)||^2
  double nll = std::numeric_limits<double>::quiet_NaN();    // last epoch's mean CE (train mode, augmented)
  double err = std::numeric_limits<double>::quiet_NaN();    // last epoch's error fraction (same batches)
  double seconds = 0;          // over all sessions
  nlohmann::json to_json() const;
};

// Trains the free bends of `curve` in place. `work` must have the curve's parameter layout;
// its parameters are overwritten and its BN running statistics become meaningless (recalibrate
// at each t before evaluating). `train` supplies augmented batches through BatchLoader with `aug`.
// With a non-empty `out_dir`: writes metrics.jsonl (one line per epoch), curve.json + bends.npy
// (after every epoch), checkpoints/last.state.pt (bends, momentum, epoch), optionally
// checkpoints/epoch-<E>.bends.npy, and summary.json; resumes from last.state.pt when present.
// Runs the shared TrainLoop over the curve target; `data_parallel` (not owned) as in RunOptions.
CurveTrainSummary train_curve(Curve& curve, Network& work, const Dataset& train, const AugmentSpec& aug,
                              torch::Device device, const CurveTrainOptions& opts, const std::string& out_dir,
                              bool quiet = false, DataParallelHooks* data_parallel = nullptr);

// One minibatch at curve coefficients `c`: writes w(t) into `work`, runs forward + backward in
// train mode, and returns dL/dw(t) of L = CE + 0.5 wd ||w(t)||^2 as a flat vector (dtype of the
// bends). Free bend j's gradient is c_j * grad (the chain rule through w(t) = sum_j c_j theta_j).
struct CurveStep {
  torch::Tensor w;      // w(t), flat
  torch::Tensor grad;   // dL/dw(t), flat
  // The batch's values as 0-dim tensors on the device (no host synchronisation yet):
  torch::Tensor nll_t;    // float64 mean CE
  torch::Tensor loss_t;   // float64 nll + 0.5 wd ||w(t)||^2
  torch::Tensor wrong_t;  // int64 misclassified examples (train mode)
  // ... and on the host (filled by curve_step; left at 0 by curve_step_async).
  double nll = 0, loss = 0;
  int64_t wrong = 0;
};
CurveStep curve_step(const Curve& curve, const std::vector<double>& c, Network& work, const torch::Tensor& x,
                     const torch::Tensor& y, double weight_decay);
// The same step with its values left on the device: queues the work and returns without waiting
// for the GPU (train_curve reads the values once per window of steps).
CurveStep curve_step_async(const Curve& curve, const std::vector<double>& c, Network& work, const torch::Tensor& x,
                           const torch::Tensor& y, double weight_decay);
// curve_step_async in two halves, for a data-parallel reduction of the network's gradients in
// between: forward + backward at w(t) (fills w, nll_t, loss_t, wrong_t; gradients in `work`),
// then dL/dw(t) from `work`'s gradients plus the penalty (fills grad).
CurveStep curve_forward_backward(const Curve& curve, const std::vector<double>& c, Network& work,
                                 const torch::Tensor& x, const torch::Tensor& y, double weight_decay);
void curve_point_gradient(const Curve& curve, Network& work, double weight_decay, CurveStep& step);

// The t of minibatch `index` in `epoch` (uniform in [0, 1), a pure function of its keys).
double curve_sample_t(uint64_t seed, int64_t epoch, int64_t index);

}  // namespace closerlook
