// The step bodies the four studies are assembled from: train a run, evaluate a straight line,
// train and evaluate a curve, evaluate a plane, capture activations. Each writes into its step
// folder (StepContext::dir) and leaves a small result.json that analysis steps read. A step whose
// input run diverged (or lacks the checkpoint it needs) records "skipped" with the reason instead
// of failing, so one diverged run never stops the other studies.
#pragma once
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "studies/pipeline.h"
#include "studies/reproduce_config.h"
#include "train/train_spec.h"

namespace closerlook {

// Fashion-MNIST & co. are decoded once per process and shared by every step.
const DataSplit& cached_data(const DataSpec& spec);

// <step dir>/run is the training run folder (train/run_dir.h layout).
std::string step_run_dir(const std::string& step_dir);
std::string step_checkpoint(const std::string& step_dir, const std::string& tag);

// The checkpoint tags a run of `t` writes (init, epoch-<E>, iter-<I>, sgdr-cycle-<K>, final; the
// rolling "last" aside), and the same settings reduced to the tags in `keep` ("init" and "final"
// are always written): what run_train_step trains with under the keep policy (pipeline.h).
std::vector<std::string> written_checkpoint_tags(const TrainSpec& t);
void apply_keep(TrainSpec& t, const std::set<std::string>& keep);

// Trains `tree` (seed, data, model, train) into <dir>/run; writes <dir>/result.json with the
// status and final metrics. Diverged runs are recorded, not thrown.
void run_train_step(StepContext& ctx, const nlohmann::json& tree);

// Straight line between two checkpoints: <dir>/line.{json,csv,npy} (surface/profile.h).
void run_line_step(StepContext& ctx, const ReproduceConfig& cfg, const std::string& ckpt_a, const std::string& ckpt_b);

// Curve between two checkpoints trained into <dir>/curve, then evaluated: <dir>/curve.{json,...}.
void run_curve_step(StepContext& ctx, const ReproduceConfig& cfg, const std::string& ckpt_a,
                    const std::string& ckpt_b, uint64_t seed);

// Plane through (w0, the curve's middle bend, w2) with `extra` checkpoints projected: <dir>/plane.
void run_plane_step(StepContext& ctx, const ReproduceConfig& cfg, const std::string& ckpt_w0,
                    const std::string& curve_dir, const std::string& ckpt_w2,
                    const std::vector<std::pair<std::string, std::string>>& extra);

// Activations of checkpoints (name -> path) at every probe point: <dir>/<name>/ (similarity/activations.h).
void run_activations_step(StepContext& ctx, const ReproduceConfig& cfg,
                          const std::vector<std::pair<std::string, std::string>>& checkpoints);

// result.json of a step ({"status": "ok"|"skipped"|"completed"|"diverged", ...}).
nlohmann::json read_step_result(const std::string& step_dir);

}  // namespace closerlook
