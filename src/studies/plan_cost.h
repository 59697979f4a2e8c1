// What a reproduce plan will cost before it runs (`reproduce --list`, `--list --json`): per step
// and in total the disk it leaves (and needs at its peak) under the keep policy, the peak host
// and device memory, and the seconds on the current device.
//
// The estimates come from the models themselves (each distinct network is built, not trained:
// its parameter and buffer count, its probe activations on one example, its forward FLOPs), the
// data's size, the checkpoints each step writes and keeps (steps.h written_checkpoint_tags,
// Plan::keep_set), the evaluation points of lines, curves and planes (points x passes over the
// data), and a short calibration: a few timed training steps and evaluation batches of each model
// on the device, cached in <out>/plan-calibration.json by model, device and batch. Without the
// calibration (--no-calibrate) the times come from FLOP counts at a nominal throughput.
// docs/studies.md ("Cost of a plan") gives the formulas and how well they hold.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "studies/pipeline.h"
#include "studies/reproduce_config.h"

namespace closerlook {

struct StepCost {
  int index = 0;                   // 1-based, as in --list and --step
  std::string id, study, kind;     // kind: train | curve | line | plane | activations | analysis
  int wave = 1;                    // Plan::wave_of
  std::vector<std::string> deps;
  bool done = false;
  double disk_bytes = 0;           // left on disk once the step is done (keep policy applied)
  double peak_disk_bytes = 0;      // on disk while it runs (resume states, every written checkpoint)
  double host_memory_bytes = 0;    // peak resident memory of the process running it
  double device_memory_bytes = 0;  // peak accelerator memory (0 on the CPU)
  double seconds = 0;
  nlohmann::json to_json() const;
};

struct PlanCost {
  std::vector<StepCost> steps;
  // disk: every step's residue plus the largest transient of one step; memory: the largest step;
  // seconds: the sum (one process, steps in order).
  double disk_bytes = 0, host_memory_bytes = 0, device_memory_bytes = 0, seconds = 0;
  std::string device;              // "cpu", "cuda:0"
  std::string timing;              // "calibrated" | "flops"
  std::string keep;                // "needed" | "all"
  nlohmann::json to_json() const;  // {"steps": [...], "total": {...}, ...}
  std::string describe() const;    // the --list table
  // The step that dominates the disk and the setting that would shrink it (one line).
  std::string disk_fix() const;
};

struct CostOptions {
  KeepPolicy keep = KeepPolicy::Needed;
  torch::Device device = torch::kCPU;
  bool calibrate = true;
  std::string cache_dir;           // where plan-calibration.json is read and written ("" = not cached)
};

PlanCost estimate_plan_cost(const Plan& plan, const ReproduceConfig& cfg, const CostOptions& opts);

// Free bytes of the file system that holds `path` (its nearest existing ancestor; statvfs).
double free_disk_bytes(const std::string& path);
// Throws Error(BadInput) with one line naming the setting that would fix it when the plan's
// disk estimate, less what finished steps already hold, exceeds `free_bytes`.
void check_disk_fits(const PlanCost& cost, double free_bytes, const std::string& out_dir);

}  // namespace closerlook
