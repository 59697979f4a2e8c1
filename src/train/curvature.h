// Curvature of the loss: the top Hessian eigenvalues, the Hessian trace and (optionally) the
// eigenvalue density, for the whole network and for each layer's diagonal block, on a fixed data
// subset. Matrix-free: everything is built from Hessian-vector products by double backward.
//
// Methods (docs/curvature.md):
//  - top-k eigenvalues: Lanczos with full reorthogonalisation, `steps` iterations from a seeded
//    Gaussian start; the Ritz values of the tridiagonal T are the estimates, and
//    |beta_m * s_{m,i}| (the last component of T's eigenvector times the last beta) bounds each
//    one's residual ||H y - theta y|| (reported, so a user sees whether it converged).
//  - per-layer blocks: the same Lanczos on H_bb, the diagonal block of the layer's parameters.
//    All operators (whole network, every block, every density run) run in lockstep: one forward
//    and one create-graph backward per batch are shared by all of them at each iteration, and each
//    operator adds one double backward. A layer block is a weight of dimension >= 2 (conv,
//    linear) with its bias and the 1-D parameters (BatchNorm) that follow it.
//  - trace: Hutchinson with Rademacher probes, tr(H) ~ mean z'Hz, with its standard error; one full
//    product per probe gives every block's trace too (z_b'(Hz)_b estimates tr(H_bb)).
//  - density (stochastic Lanczos quadrature, Ubaru et al. 2017 / PyHessian): `density_runs`
//    extra Lanczos runs from Rademacher starts; each gives nodes (Ritz values) and weights (squared
//    first components of T's eigenvectors); the density is their Gaussian-smoothed average.
// The loss is the mean cross-entropy over the subset (weight decay excluded: it adds wd to every
// eigenvalue). BatchNorm runs in eval mode by default (running statistics, so the function whose
// Hessian is taken is the one the network computes at test time).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "models/network.h"

namespace closerlook {

// A scalar loss of some parameters, as a sum over batches: the Hessian is that of
// sum_b batch_loss(b) with respect to `params`.
struct HessianProblem {
  std::vector<torch::Tensor> params;        // leaves (requires_grad), any float dtype
  std::vector<std::string> param_names;     // one per parameter (for the blocks)
  int64_t num_batches = 1;
  std::function<torch::Tensor(int64_t)> batch_loss;  // batch b's share of the total loss
  // Several processes (closerlook curvature under a launcher, see shard_batches): called with
  // every product's partial sum over this process's batches (flat float64 tensors), it sums
  // them over all processes in place, so every rank holds the same H v and runs the same
  // Lanczos. Null: one process (num_batches must then be >= 1; with it, 0 is fine).
  std::function<void(std::vector<torch::Tensor>&)> reduce;
};

// The processes of a sharded curvature run: this process's rank of `world`, and the in-place
// sum over processes of its partial products (e.g. a Communicator's allreduce_many_).
struct ProductReduction {
  int rank = 0, world = 1;
  std::function<void(std::vector<torch::Tensor>&)> sum;
};
// `p` restricted to the batches b with b % world == rank (as dist/sharded.h assigns items), its
// products summed over the processes by `r.sum`: the Hessian is still that of the whole loss
// (every batch is on exactly one rank; a rank may have fewer batches, or none). world == 1
// returns p unchanged.
HessianProblem shard_batches(HessianProblem p, const ProductReduction& r);

// A layer block: indices into HessianProblem::params.
struct ParamBlock {
  std::string name;                 // the module path of its weight, e.g. "features.0"
  std::vector<size_t> params;
  int64_t numel = 0;
};
// Blocks as described above, in parameter order (Error(BadInput) for no parameters).
std::vector<ParamBlock> layer_blocks(const std::vector<std::string>& names, const std::vector<torch::Tensor>& params);

struct CurvatureOptions {
  int top_k = 5;                // eigenvalues per operator (<= steps)
  int steps = 20;               // Lanczos iterations of the network's operator (one HVP each)
  int layer_steps = 10;         // Lanczos iterations of each layer block (<= steps; a block's top
                                // eigenvalue converges in a few: residuals are reported)
  int trace_samples = 20;       // Hutchinson probes (0: no trace)
  int density_runs = 0;         // SLQ runs (0: no density)
  int density_grid = 200;       // points of the smoothed density
  double density_sigma = 0.0;   // Gaussian width; 0 = 1% of the spectrum's range
  bool per_layer = true;        // also every layer block
  uint64_t seed = 0;
  // Warm starts (training-time tracking, train/trainer.cpp): the start vector of the network's
  // Lanczos and of each block's (flat, over the operator's parameters; undefined or of the wrong
  // size = the seeded Gaussian start). keep_vectors returns the top Ritz vectors for the next call.
  torch::Tensor network_start;
  std::vector<torch::Tensor> block_starts;
  bool keep_vectors = false;
};

struct Spectrum {
  std::string name;                  // "network" or the block's name
  int64_t numel = 0;
  std::vector<double> eigenvalues;   // top-k Ritz values, largest first
  std::vector<double> residuals;     // |beta_m s_{m,i}| per eigenvalue
  double trace = std::nan(""), trace_se = std::nan("");
};

struct CurvatureResult {
  Spectrum network;
  std::vector<Spectrum> blocks;
  // SLQ: per run the nodes and weights; the smoothed density on a grid (empty without density).
  std::vector<std::vector<double>> density_nodes, density_weights;
  std::vector<double> density_grid, density;
  // With keep_vectors: the top Ritz vector of the network's operator and of each block's.
  torch::Tensor network_vector;
  std::vector<torch::Tensor> block_vectors;
  int64_t hvps = 0;        // Hessian-vector products (double backwards over the whole subset)
  double seconds = 0;
  nlohmann::json to_json() const;
};

// The curvature of `problem` (see the top of this file).
CurvatureResult compute_curvature(const HessianProblem& problem, const CurvatureOptions& opts);

// The problem of a network on the first `examples` images of `data` (mean cross-entropy over
// them, in batches of `batch_size`), BN in eval mode unless `bn_train`. The network's
// parameters are used in place (gradients are taken, values not changed).
HessianProblem network_problem(Network& net, const Dataset& data, int64_t examples, int64_t batch_size,
                               torch::Device device, bool bn_train = false);

// ---- Curvature during training (train.curvature_every / curvature_iters, train/trainer.cpp) ----
// At the chosen iterations (before that iteration's step: the weights after `iter` steps), the
// top Hessian eigenvalue of the whole network and of every layer block, on a fixed subset of the
// un-augmented training set (its first `examples` images) cut into `batch_size` batches. Each
// batch is its own operator (the Hessian of that batch's mean loss): lambda_max is the mean over
// the batches and its se their sd / sqrt(batches) (NaN for one batch), the within-run error of a
// claim. Lanczos is warm-started from the previous measurement's top Ritz vectors (per batch and
// block). The measurement leaves training bit-identical: parameters' requires_grad (freezing),
// BN running statistics, the train/eval mode and the CPU random stream are restored.
struct CurvatureTrackOptions {
  int64_t every = 0;                 // iterations between measurements (0: only `iters`)
  std::vector<int64_t> iters;        // and at these iterations
  int64_t examples = 256;            // the first N un-augmented training images
  int64_t batch_size = 128;          // batches of the subset (one operator each)
  int steps = 8;                     // Lanczos iterations of the network's operator
  int layer_steps = 5;               // ... of each layer block
  bool per_layer = true;
  bool bn_train = true;              // BN with batch statistics (the function SGD steps on)
  int trace_samples = 0;             // Hutchinson probes per batch (0: no trace)
  bool warm_start = true;
  uint64_t seed = 0;
  bool due(int64_t iter) const;
};

class CurvatureTracker {
 public:
  // `data`: the un-augmented training set (its first `examples` are moved to `device` once).
  CurvatureTracker(const CurvatureTrackOptions& o, const Dataset& data, torch::Device device);
  // One curvature.jsonl row: {iter, lr, sharpness (= lambda_max * lr / 2), lambda_max,
  // lambda_max_se, lambda_max_batches, residual (largest top residual over batches), [trace,
  // trace_se], blocks [{name, numel, top_vector_mass (the share of the unit top eigenvector in
  // the block: where the sharpest direction lives, free; the mean over batches),
  // top_vector_mass_se (their sd / sqrt(batches), null for one batch), top_vector_mass_batches
  // (one per batch, in the order of lambda_max_batches), with per_layer also lambda_max,
  // lambda_max_se, residual[, trace]}], examples,
  // batches, bn, steps, layer_steps, hvps, seconds}; non-finite numbers are null, and a
  // measurement that fails (non-finite weights) is a row with "error".
  nlohmann::json measure(Network& net, int64_t iter, double lr);
  // The per-batch problems (the same as measure() uses; for tests).
  std::vector<HessianProblem> problems(Network& net);
  CurvatureOptions options() const;

 private:
  CurvatureTrackOptions o_;
  Dataset sub_;
  torch::Device device_;
  std::vector<torch::Tensor> warm_net_;                 // per batch
  std::vector<std::vector<torch::Tensor>> warm_blocks_; // per batch, per block
};

// `closerlook curvature CKPT`: the curvature of a checkpoint inside a run folder on the first
// `examples` training images of the run's data (no augmentation). Writes <out_dir>/curvature.json
// (atomically) when out_dir is set and returns the same JSON, with the settings under "settings".
struct CurvatureJob {
  std::string checkpoint;
  std::string out_dir;                      // "" = print only
  int64_t examples = 512;
  int64_t batch_size = 256;
  bool bn_train = false;
  std::vector<std::string> data_overrides;  // "data.key=value"
  CurvatureOptions options;
  // Several processes: the subset's batches are split over the ranks (shard_batches); every rank
  // returns the same JSON, rank 0 alone writes curvature.json.
  ProductReduction processes;
};
nlohmann::json run_curvature_job(const CurvatureJob& job, torch::Device device);

}  // namespace closerlook
