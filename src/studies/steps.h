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

// The same line with ckpt_b first permuted to match ckpt_a ([align] method, surface/aligned_endpoints.h;
// `closerlook interpolate A B --align M`): <dir>/line.{json,csv,npy} with settings.align,
// <dir>/aligned/1/ (the aligned checkpoint and its permutation), result.json with the alignment
// (method, weight distance before and after). For two networks of different runs.
void run_aligned_line_step(StepContext& ctx, const ReproduceConfig& cfg, const std::string& ckpt_a,
                           const std::string& ckpt_b);
// What an aligned line step hashes besides its endpoints: the [eval] table and the resolved [align] preset.
nlohmann::json aligned_line_inputs(const ReproduceConfig& cfg);

// Adds the straight line from checkpoint `tag_a` of run step `run_a` to `tag_b` of `run_b` as
// step `raw_id` (skipped when raw_id is empty: the study has that line already) and, unless
// [align] method is none, the aligned line as step `aligned_id`; declares both steps' reads.
// Returns the ids added or given ("" for an aligned line not added).
struct LinePairSteps {
  std::string raw, aligned;
};
LinePairSteps add_line_pair_steps(Plan& plan, const ReproduceConfig* cfg, const std::string& study,
                                  const std::string& what, const std::string& raw_id, const std::string& aligned_id,
                                  const std::string& run_a, const std::string& tag_a, const std::string& run_b,
                                  const std::string& tag_b);

// Barriers of the line a line step wrote (<line_dir>/line.json; the one definition,
// surface/profile.h barrier_height via claims_sgdr.h test_err_barrier / relative_barrier):
// {"test_err_points", "test_err_se_points" (binomial on the test set), "train_loss" (nll, nats),
// "train_loss_rel" (/ mean endpoint train loss)}; null when the step wrote no line (skipped,
// diverged, not in the plan). With an aligned line: also "distance_before", "distance_after".
nlohmann::json line_barriers(const std::string& line_dir);

// One row per pair of networks: its raw and aligned line barriers ("aligned" null: not aligned,
// e.g. two snapshots of one run). Written to <analysis dir>/barriers.json
// ({"pairs": [{"pair", "what", "raw", "aligned"}], "align": method}) and, with figures, as the
// table figure `figure_id` ("barriers raw vs aligned"; report/figure_spec.h).
struct BarrierPair {
  std::string pair, what;    // "G-A", "larger batch ..."
  std::string raw_dir;       // the raw line step's folder
  std::string aligned_dir;   // the aligned line step's folder ("" = not aligned)
};
nlohmann::json write_barrier_table(const std::string& analysis_dir, const std::string& root, bool figures,
                                   const std::string& study, const std::string& figure_id, const std::string& title,
                                   int order, const std::string& align_method, const std::vector<BarrierPair>& pairs);

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
