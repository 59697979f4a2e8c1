// Permutation alignment of two networks of one architecture (Ainsworth et al. 2022, "Git
// Re-Basin"; Entezari et al. 2021): B's hidden units are reordered to match A's, which leaves
// B's function unchanged and removes the permutation part of the A-B weight-space distance.
// Groups come from the network's structure (surface/permutation_spec.h).
//   weights:     alternating linear assignment over the groups (random order, seeded): for a
//                group, C = sum over its parameter axes of W_A(axis) . P(W_B)(axis)^T with the
//                other groups' current permutations applied; maximise; repeat until no group
//                improves or max_iterations.
//   activations: per group, the correlation of A's and B's ReLU outputs (units = channels, over
//                images and positions) on a fixed seeded subset of training images, summed over
//                the group's ReLU sites; maximised by one linear assignment per group.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "models/network.h"
#include "surface/permutation_spec.h"

namespace closerlook {

// perm[g][i]: the index, in the original network, of the unit placed at position i of group g.
struct Permutation {
  PermutationSpec spec;
  std::vector<std::vector<int64_t>> perm;
};

Permutation identity_permutation(const PermutationSpec& spec);
Permutation random_permutation(const PermutationSpec& spec, uint64_t seed);
Permutation inverse_permutation(const Permutation& p);
nlohmann::json permutation_to_json(const Permutation& p);

// Reorders every axis of every group in place: parameters, BN running statistics, and the
// flatten-expanded axes (whole blocks). The network computes the same function afterwards.
// Error(BadInput) when a tensor named by the spec is missing or the sizes differ.
void apply_permutation(Network& net, const Permutation& p);

struct AlignOptions {
  std::string method = "weights";  // weights | activations
  uint64_t seed = 0;               // weights: the group order; activations: the image subset
  int64_t max_iterations = 100;    // weights: sweeps over all groups
  int64_t samples = 512;           // activations: training images used
  int64_t batch_size = 128;        // activations: images per forward pass
};

struct AlignResult {
  Permutation permutation;  // applied to b: aligned b = apply_permutation(b, permutation)
  std::string method;
  int64_t iterations = 0;
  // weights: sum over all parameters of <W_A, W_B>; activations: mean correlation of matched units.
  double objective_before = 0, objective_after = 0;
  double distance_before = 0, distance_after = 0;  // ||theta_A - theta_B|| over all parameters
  double seconds = 0;
  nlohmann::json to_json() const;
};

// Finds the permutation of b's units that best matches a and applies it to b (in place).
// `data` (its images) is needed by the activations method only. Both networks are left in the
// train/eval mode they had; they must share arch() and device.
AlignResult align_networks(Network& a, Network& b, const AlignOptions& opts, const Dataset* data = nullptr);

// The weight matching objective sum_p <W_A, W_B> over all parameters (float64).
double weight_inner_product(Network& a, Network& b);

}  // namespace closerlook
