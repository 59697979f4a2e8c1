// The [train] table: optimizer, schedule, warmup, freezing, checkpoints and distillation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "train/schedule.h"

namespace closerlook {

// The schedule's shape parameters (gamma, step_epochs, milestones, final_lr, eta_min, sgdr_t0,
// sgdr_tmult, warmup_iters) are the ScheduleParams base (train/schedule.h).
struct TrainSpec : ScheduleParams {
  int64_t epochs = 10;
  int64_t batch_size = 128;
  bool drop_last = false;             // drop the last partial batch of each epoch

  std::string optimizer = "sgd";      // sgd | adam
  double lr = 0.05;
  double momentum = 0.9;              // sgd
  bool nesterov = false;              // sgd
  double weight_decay = 5e-4;         // coupled L2 (sgd and adam, as in torch.optim)
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;

  // Schedule: its kind (its parameters are the ScheduleParams base; lr and the run length come
  // from above).
  std::string schedule = "constant";

  // Parameters whose names start with one of these prefixes get no update (and no optimizer
  // state) during the first freeze_iters iterations.
  std::vector<std::string> freeze_prefixes;
  int64_t freeze_iters = 0;

  int64_t eval_train_subset = 10000;  // examples for the un-augmented train loss/accuracy per epoch
  int64_t eval_batch = 128;  // CPU: batches of 128 run ~1.35x faster than 500 (BENCHMARKS.md, plane)

  std::vector<int64_t> checkpoint_epochs;  // "epoch-<E>" after these epochs
  std::vector<int64_t> checkpoint_iters;   // "iter-<I>" after I optimizer steps
  int64_t checkpoint_every = 0;            // "epoch-<E>" every k epochs (0: off)
  bool checkpoint_sgdr_cycles = false;     // "sgdr-cycle-<K>" at the end of each SGDR cycle

  // Curvature during training (train/curvature.h): lambda_max of the network and of each layer
  // block into <out>/curvature.jsonl at these iterations (before that iteration's step). In
  // iterations, not epochs: the warmup window is shorter than an epoch (quick preset: 8 steps =
  // one epoch of the large batch). Off unless curvature_every or curvature_iters is set.
  int64_t curvature_every = 0;
  std::vector<int64_t> curvature_iters;
  int64_t curvature_examples = 256;   // the first N un-augmented training images
  int64_t curvature_batch = 128;      // one Lanczos per batch: mean and se over the batches
  int64_t curvature_steps = 8;        // Lanczos iterations, network
  int64_t curvature_layer_steps = 5;  // ... per layer block
  bool curvature_per_layer = true;
  std::string curvature_bn = "train"; // train (batch statistics: the function SGD steps on) | eval
  int64_t curvature_trace_samples = 0;
  bool curvature_warm_start = true;   // Lanczos from the previous measurement's top vectors

  std::string init_from;              // start from these weights (a <run>/checkpoints/<tag>.pt)
  std::string teacher;                // distil from this checkpoint (empty: plain cross-entropy)
  double kd_temperature = 4.0;
  double kd_alpha = 0.9;
  // float32 | bf16: the training forward under autocast (train/precision.h); weights, gradients,
  // optimizer and loss stay float32. Evaluation keeps float32.
  std::string precision = "float32";
};

// Reads and validates the keys of the [train] table (the caller calls r.finish()).
// Keys of another schedule kind are rejected by name.
TrainSpec read_train_spec(ConfigReader& r);

// The schedule of a run with `iters_per_epoch` optimizer steps per epoch.
ScheduleSpec schedule_spec(const TrainSpec& t, int64_t iters_per_epoch);

}  // namespace closerlook
