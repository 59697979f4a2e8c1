// A bootstrap over examples of a similarity measure: resample the examples (rows) with
// replacement, recompute the similarity on the resample, B times. Several representations
// compared with one reference share every resample, so differences between their similarities
// (e.g. distilled vs independent student, each against the teacher) are paired: the same
// examples enter both sides of each replicate.
//
// The resamples come from a seeded SplitMix64 stream with Lemire's multiply-shift reduction to
// [0, n) (no std:: distribution, so the indices are the same on every platform and compiler).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "similarity/measure.h"

namespace closerlook {

// B resamples of n example indices, with replacement: int64 tensor [B, n], values in [0, n).
// Deterministic in (n, resamples, seed). Error(BadInput) for n < 1 or resamples < 1.
torch::Tensor bootstrap_indices(int64_t n, int64_t resamples, uint64_t seed);

// values[b][k] = sim(xs[k][idx[b]], y[idx[b]]) under `measure` (any 2-D measure: not dft-cca),
// the reference y prepared once per resample. Every xs[k] and y are (n x features) with the same
// n rows = examples; idx is [B, n'] (n' may differ from n; usually n' = n) with values in [0, n).
// A replicate whose similarity is undefined (e.g. a resample where a representation has no
// variance left) is NaN, not an error. Error(BadInput) for mismatched shapes or bad indices.
// Linear CKA (centred, n <= opts.max_gram_examples) goes through the n x n example Grams, computed
// once: each resample costs O(n^2) whatever the feature counts; other measures rebuild the
// representations on every resample.
std::vector<std::vector<double>> bootstrap_similarities(const std::vector<torch::Tensor>& xs, const torch::Tensor& y,
                                                        const torch::Tensor& idx, Measure measure,
                                                        const SimilarityOptions& opts = {});

// Summaries of bootstrap replicates (non-finite replicates ignored; NaN when fewer than 2 are
// finite): the standard deviation (n - 1 denominator) = the bootstrap standard error, and the
// percentile interval [q_{(1-level)/2}, q_{(1+level)/2}] (linear interpolation between order
// statistics, numpy's default).
double bootstrap_se(const std::vector<double>& replicates);
std::pair<double, double> bootstrap_percentile_interval(const std::vector<double>& replicates, double level = 0.95);
// How many replicates are finite.
int64_t finite_count(const std::vector<double>& replicates);

}  // namespace closerlook
