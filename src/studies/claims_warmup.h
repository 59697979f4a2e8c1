// Study 3 (warmup): where a large batch without warmup changes the network, and FC freezing.
//
// warmup.deep_layers_stabilised, a difference-in-differences made scale-free. Per run and layer
// l, the change over the warmup window (iteration 0 -> iteration T = warmup_iters) is measured
// two ways, both recorded per layer:
//   similarity  c_l = (1 - S_l) / (1 - F_l): S_l the similarity ([similarity] primary) of the
//               layer's activations at 0 and at T, F_l its noise floor (the same two activation
//               sets with the examples of T permuted: unrelated representations of the same n and
//               dimensions). c_l = 0: unchanged, 1: as unrelated as a permutation.
//   weights     c_l = ||W_T - W_0|| / ||W_0|| of the layer's weight tensor.
// A run's deep share is  share = mean_deep(c) / (mean_deep(c) + mean_shallow(c))  (deep = the last
// deep_layers probe points). The effect is share(large batch) - share(large batch + warmup),
// claimed > 0 (margin: the preset's equivalence margin). The plain diff-in-diff of the issue,
// (deep - shallow) change without warmup minus the same with warmup, is reported beside it but
// does not decide: a schedule that scales every layer's change by the same factor (warmup's ramp
// roughly halves the summed LR over the window) moves it, the share does not. The same contrast
// against the small batch is reported too (numbers["vs_small_batch"]).
// Within-run se: the bootstrap over examples (the similarity replicates of every run and layer
// share the resamples, so the contrast is paired); the weight measure has none (NaN: one seed is
// inconclusive, seeds pooled give the t interval). `decide_by` picks the measure that decides.
// Gate "inside noise floor": the deep layers of both runs are at the floor (S <= F + floor_z sd_F
// for every deep layer): both changed beyond what the measure resolves, so it cannot rank them.
//
// warmup.fc_freeze: effect = acc(LB + freeze) - acc(LB) on n_test test images, claimed > 0, with
// the binomial se of both accuracies (independent: conservative for one test set). Reported: the
// fraction of warmup's gain recovered (not a decider: it explodes when that gain is small) and
// acc(freeze) - acc(warmup). Gates (inconclusive): warmup's own gain over LB not significant; the
// warmup or the freeze run diverged (non-finite loss) or ended at chance (1/classes inside its
// Wilson interval). A large batch that diverges or ends at chance without warmup is the paper's
// premise, recorded (numbers["large_batch_unstable"]) but not a gate.
#pragma once
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "studies/claim_check.h"
#include "train/run_status.h"

namespace closerlook {

// ---- Study 3: warmup -----------------------------------------------------------------------
struct WarmupRun {
  std::string name;                  // "small-batch", "large-batch", "large-batch+warmup", "large-batch+fc-freeze"
  std::vector<std::string> layers;   // probe points, in order
  std::vector<double> similarity;    // per layer: iteration 0 vs end of the warmup window
  std::vector<double> floor;         // per layer: the similarity's noise floor (examples permuted)
  std::vector<double> floor_sd;      // per layer: sd of the floor over the permutations
  std::vector<std::vector<double>> replicates;  // [resample][layer]: bootstrap similarities
  std::vector<std::string> weights;  // weight tensors (conv/linear), in order
  std::vector<double> weight_change; // per weight tensor: ||W_T - W_0|| / ||W_0||
  double final_test_acc = std::numeric_limits<double>::quiet_NaN();
  double final_train_loss = std::numeric_limits<double>::quiet_NaN();
  std::optional<RunStatus> status;   // the training run's status (nullopt: no result)
  double n_test = std::numeric_limits<double>::quiet_NaN();   // test images behind final_test_acc
  double classes = std::numeric_limits<double>::quiet_NaN();  // chance = 1 / classes
};

struct WarmupCheckOptions {
  int deep_layers = 3;
  std::string decide_by = "similarity";  // similarity | weights
  std::string measure = "svcca";         // the similarity measure's name (reported)
  double floor_z = 2.0;
  double margin = 0.05;
  double level = 0.95;
};

// The names of the arms a check compares (the controls pass their own).
struct WarmupArms {
  std::string large = "large-batch", warmup = "large-batch+warmup", small = "small-batch",
              freeze = "large-batch+fc-freeze";
};

// Per-layer changes of a run under one measure (similarity: floor-normalised 1 - S; weights).
std::vector<double> warmup_changes(const WarmupRun& r, const std::string& measure);
// mean_deep / (mean_deep + mean_shallow) of per-layer changes (NaN when undefined).
double deep_share(const std::vector<double>& change, int deep_layers);

ClaimCheck check_warmup_deep_layers(const std::vector<WarmupRun>& runs, const WarmupCheckOptions& o,
                                    const WarmupArms& arms = {});
ClaimCheck check_fc_freeze(const std::vector<WarmupRun>& runs, double level = 0.95, const WarmupArms& arms = {});

}  // namespace closerlook
