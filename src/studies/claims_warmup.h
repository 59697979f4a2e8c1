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
//
// warmup.sharpness_2eta (the curvature reading: Cohen et al. 2021, edge of stability; Kalra and
// Barkeshli 2023): gradient descent at learning rate eta is unstable along a direction whose
// curvature exceeds 2/eta, so without warmup the large batch's top Hessian eigenvalue lambda_max
// should exceed 2/eta early, and with warmup stay near or below it. Per run, from the training
// run's curvature.jsonl (train.curvature_*: lambda_max before each measured step, with the
// between-batch se): S = max over the window's measurements (iterations 0..window) of
// lambda_max(t) eta(t) / 2 (1 = the bound 2/eta; with heavy-ball momentum beta the bound is
// (2 + 2 beta)/eta, i.e. S = 1 + beta, reported). Effect = S(large batch) - S(large batch +
// warmup), claimed > 0, margin `sharpness_margin` (in units of the bound); within-run se from
// the two maxima's between-batch se (each at its arg max). Where the excess sits (reported, not
// deciding): at each run's arg max, the share of the top eigenvector in the deep blocks (the
// last deep_layers conv/linear blocks, the FC stack) and, when per-layer curvature was measured,
// each block's lambda_max eta / 2. Gate: a run without curvature measurements in the window.
//
// warmup.deep_curvature (the deciding form of "is it the deep layers?"): on the large batch
// without warmup, at the tracked points of the window where lambda_max eta / 2 > 1 (the points
// that cross 2/eta), the deep blocks' share of the top eigenvector, D = sum over the last
// deep_layers blocks of mass_b (for the top Ritz vector v, lambda mass_b = v_b' (H v)_b up to the
// residual, so D is the deep blocks' share of the curvature lambda = sum_b v_b' (H v)_b), averaged
// over those points. Effect = D - P, P = the deep blocks' share of the parameters (sum numel deep
// / sum numel: the mass a direction with no layer preference has there in expectation), claimed
// > 0, margin `deep_curvature_margin` (share units). Within-run se: per curvature batch k, D_k
// = the mean over the crossing points of that batch's deep mass; se = sd_k(D_k) / sqrt(batches)
// (the batches are the independent operators; averaging over points within a batch first keeps
// the points' correlation out of the se). Rows without per-batch masses (written before they
// were recorded) or one batch: se NaN, inconclusive with that reason. A statement about one run
// (no contrast between separately trained networks): decided at one seed; --seeds K pools.
// Gate (the premise): the large batch never crosses 2/eta in the window. Reported, not deciding:
// the same share and excess at each arm's own max (warmup, small batch), each crossing point,
// and with per-layer curvature every block's lambda_max eta / 2 at the max and whether a deep
// block alone exceeds the bound.
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
  // curvature.jsonl of the training run (warmup.sharpness_2eta), in iteration order.
  struct Sharpness {
    double iter = 0, epoch = 0;
    double lr = std::numeric_limits<double>::quiet_NaN();
    double lambda = std::numeric_limits<double>::quiet_NaN(), lambda_se = std::numeric_limits<double>::quiet_NaN();
    int batches = 0;                   // curvature batches behind lambda_se (df = batches - 1; 0: unknown -> no t interval)
    std::vector<double> block_mass;    // per curvature block: the top eigenvector's share (mean over batches)
    std::vector<double> block_mass_se; // per block: its between-batch se (NaN: one batch, or an old row)
    std::vector<std::vector<double>> block_mass_batches;  // [block][batch] (empty: an old row)
    std::vector<double> block_lambda;  // per curvature block (NaN without per-layer curvature)
  };
  std::vector<Sharpness> sharpness;
  std::vector<std::string> curvature_blocks;
  std::vector<double> curvature_numel;  // per curvature block: its parameter count
  double momentum = 0;
};

struct WarmupCheckOptions {
  int deep_layers = 3;
  std::string decide_by = "similarity";  // similarity | weights
  std::string measure = "svcca";         // the similarity measure's name (reported)
  double floor_z = 2.0;
  double margin = 0.05;
  double level = 0.95;
  int64_t window = 0;              // warmup.sharpness_2eta: iterations 0..window
  double sharpness_margin = 0.1;   // smallest contrast of max lambda eta / 2 that counts
  double deep_curvature_margin = 0.05;  // warmup.deep_curvature: smallest excess of the deep share that counts
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
// max over t <= window of lambda(t) eta(t) / 2 and the index of its point (-1: none finite).
std::pair<double, int> max_sharpness(const WarmupRun& r, int64_t window);
ClaimCheck check_warmup_sharpness(const std::vector<WarmupRun>& runs, const WarmupCheckOptions& o,
                                  const WarmupArms& arms = {});
// The deep blocks' (the last deep_layers) share of the parameters (NaN: no or too few blocks).
double deep_parameter_share(const WarmupRun& r, int deep_layers);
// The deep blocks' share of the top eigenvector at one point (mean over batches), and per batch
// (empty when the row has no per-batch masses).
double deep_top_vector_share(const WarmupRun::Sharpness& p, int deep_layers);
std::vector<double> deep_top_vector_share_batches(const WarmupRun::Sharpness& p, int deep_layers);
ClaimCheck check_warmup_deep_curvature(const std::vector<WarmupRun>& runs, const WarmupCheckOptions& o,
                                       const WarmupArms& arms = {});
ClaimCheck check_fc_freeze(const std::vector<WarmupRun>& runs, double level = 0.95, const WarmupArms& arms = {});

}  // namespace closerlook
