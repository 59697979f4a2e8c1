// Learning-rate schedules as pure functions of the global iteration. The trainer calls
// schedule_lr(spec, iter) before every step and writes the value into the optimizer's
// param groups, so a resumed run needs no schedule state beyond the iteration count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace closerlook {

// The parameters of a schedule's shape, under the names of the [train] table's keys. One struct
// for both readers of them: TrainSpec (the table) and ScheduleSpec (a schedule of a run) derive
// from it, so schedule_spec() copies it whole instead of field by field.
struct ScheduleParams {
  double gamma = 0.1;                // step / multistep decay factor
  int64_t step_epochs = 30;          // step: multiply by gamma every k epochs
  std::vector<int64_t> milestones;   // multistep: epochs at which lr is multiplied by gamma
  double final_lr = 0.0;             // linear: lr at the end of the run
  double eta_min = 0.0;              // cosine and SGDR minimum
  int64_t sgdr_t0 = 10;              // SGDR: first cycle length in epochs
  int64_t sgdr_tmult = 2;            // SGDR: each cycle is Tmult times longer than the previous
  int64_t warmup_iters = 0;          // linear warmup over the first N iterations (composes with any kind)
};

// A schedule of one run: its kind and shape plus what the run adds (base lr, length).
struct ScheduleSpec : ScheduleParams {
  // constant | step | multistep | linear | cosine | sgdr | garipov
  std::string kind = "constant";
  double lr = 0.1;                   // base lr; eta_max for cosine and SGDR
  int64_t epochs = 1;                // length of the run
  int64_t iters_per_epoch = 1;

  int64_t total_iters() const { return epochs * iters_per_epoch; }
};

const std::vector<std::string>& schedule_kinds();

// The lr of iteration `iter` (0-based: the lr used for the iter-th optimizer step).
// With warmup: lr_k = base(k) * (k + 1) / N for k < N.
double schedule_lr(const ScheduleSpec& spec, int64_t iter);

// The lr before warmup is applied.
double base_schedule_lr(const ScheduleSpec& spec, int64_t iter);

// Garipov et al.'s curve schedule factor for run fraction a in [0, 1]: 1 up to 0.5, linear
// to 0.01 at 0.9, then 0.01.
double garipov_factor(double a);

// SGDR (Loshchilov & Hutter) at iteration `iter`, with T_cur counted per iteration (a fractional
// epoch), so the cycles end exactly at epochs T0, T0(1+Tmult), T0(1+Tmult+Tmult^2), ...
double sgdr_lr(int64_t iter, int64_t iters_per_epoch, int64_t t0, int64_t tmult, double eta_min, double eta_max);

// Epochs (1-based counts of completed epochs) at which SGDR cycles end, up to `max_epoch` inclusive.
std::vector<int64_t> sgdr_cycle_end_epochs(int64_t t0, int64_t tmult, int64_t max_epoch);

}  // namespace closerlook
