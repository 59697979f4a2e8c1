// Plane directions chosen other than by three points (docs/surface.md, "Planes"):
//  * random, filter-normalised directions around one point (Li et al. 2018, loss-landscape's
//    net_plotter.py): one torch.randn per parameter tensor in named_parameters order from a
//    generator seeded with `seed` (d1 over every tensor, then d2, as create_random_direction is
//    called for x then y; float32 draws, so the same numbers as Python's torch.manual_seed(seed)),
//    then per tensor: dim > 1 normalised (filter: every slice along dim 0 scaled to the norm of the
//    same slice of the weight, d_f *= ||w_f|| / (||d_f|| + 1e-10); layer: d *= ||W|| / ||D||);
//    dim <= 1 (biases, BN affine) zero (`ignore biasbn`, the default) or a copy of the weight
//    (loss-landscape without --xignore). Oracles LL1, LL3 (shared/reference/algorithms.md §F).
//  * the top two principal directions of a trajectory (loss-landscape's projection.py with
//    sklearn's PCA): rows r_t = w_t - w_final, centred; computed without holding the T rows:
//    the T x T Gram matrix of the rows is built from streamed checkpoints (a block of `block`
//    rows held at a time against the rest streamed: T + T^2 / (2 block) loads), double-centred and
//    eigendecomposed, and pc_k = sum_t a_k[t] (r_t - mean) / sqrt(lambda_k) formed in a second
//    stream. Signs as sklearn >= 1.5 (svd_flip on the components: the entry of largest magnitude
//    of each component is positive). Memory: `block` + 4 flat vectors, independent of T.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace closerlook {

enum class DirectionNorm { Filter, Layer, None };
enum class DirectionIgnore { BiasBn, None };  // what 1-D tensors get: zero, or a copy of the weight
DirectionNorm parse_direction_norm(const std::string& s);      // filter | layer | none
DirectionIgnore parse_direction_ignore(const std::string& s);  // biasbn | none
std::string to_string(DirectionNorm n);
std::string to_string(DirectionIgnore i);

// One tensor's direction normalised against its weight (any shape; float64 result). dim <= 1
// tensors follow `ignore` whatever `norm` is.
torch::Tensor normalize_direction(const torch::Tensor& d, const torch::Tensor& w, DirectionNorm norm,
                                  DirectionIgnore ignore);

struct RandomDirectionOptions {
  uint64_t seed = 123;  // loss-landscape's torch.manual_seed(123)
  DirectionNorm norm = DirectionNorm::Filter;
  DirectionIgnore ignore = DirectionIgnore::BiasBn;
};

struct RandomDirections {
  torch::Tensor d1, d2;  // flat float64, parameter order, on the weights' device
  double norm1 = 0, norm2 = 0, weight_norm = 0, cosine = 0;
  int64_t zeroed_tensors = 0;  // dim <= 1 tensors set to zero (ignore biasbn)
  nlohmann::json to_json(const RandomDirectionOptions& o) const;  // directions.json
};

// `weights`: the centre's parameters (named_parameters order, original shapes).
RandomDirections random_directions(const std::vector<torch::Tensor>& weights, const RandomDirectionOptions& o);

// A trajectory read one checkpoint at a time: load(t) for t in [0, size) returns w_t as a flat
// vector (any float dtype). Every call may read a file; nothing returned is kept beyond its use.
struct TrajectorySource {
  int64_t size = 0;
  std::function<torch::Tensor(int64_t)> load;
  std::vector<std::string> names;  // one per iterate (for plane.json), optional
};

struct PcaOptions {
  int block = 16;  // rows held at once while building the Gram matrix (memory vs reads)
};

struct PcaDirections {
  torch::Tensor pc1, pc2;                 // flat float64, unit norm, orthogonal
  double explained_variance[2] = {0, 0};  // lambda_k / (T - 1), as sklearn's explained_variance_
  double explained_variance_ratio[2] = {0, 0};
  double singular_values[2] = {0, 0};     // sqrt(lambda_k)
  double total_variance = 0;              // trace of the centred Gram / (T - 1)
  int64_t rows = 0, loads = 0;            // T, and the checkpoints read to get here
  nlohmann::json to_json(const PcaOptions& o) const;  // directions.json
};

// Error(BadInput) with fewer than 3 iterates or when the centred rows have rank < 2.
PcaDirections trajectory_pca(const TrajectorySource& src, const torch::Tensor& final_w, const PcaOptions& o = {});

}  // namespace closerlook
