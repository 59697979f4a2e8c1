// BatchNorm recalibration at an arbitrary point of weight space (Garipov et al.'s update_bn,
// made exact). Running statistics carried over from training belong to other weights, so at
// every interpolated/curve/plane point they are reset and recomputed over the training set
// (or a deterministic subset), without augmentation, in train mode.
//
// Result, per BN layer: running_mean = size-weighted average of the per-batch means (= the mean
// over the examples used), running_var = size-weighted average of the per-batch unbiased
// variances (as PyTorch's cumulative average and update_bn give; not the pooled variance). The
// sums are accumulated in float64 by us, not by the momentum update, so they are exact up to
// the final cast. Momenta and train/eval mode are restored afterwards.
//
// Dropout: the forward passes run in train mode, so any dropout layer is active. It cannot
// change the statistics of a BN layer upstream of it; the built-in VGG puts dropout only in the
// classifier, after all BNs, so its statistics are unaffected. A user model with dropout before
// a BN layer gets statistics under dropout noise (as in update_bn).
#pragma once
#include <torch/torch.h>

#include "data/dataset.h"
#include "models/network.h"

namespace closerlook {

struct BnRecalibrationOptions {
  int64_t samples = 0;      // 0 = every example of the dataset; else the first N of `order`
  int64_t batch_size = 128;  // as Garipov's loaders; on CPU also faster than larger batches
  // Example order/subset: a 1-D int64 index tensor (e.g. a seeded permutation). Undefined =
  // the dataset's own order. Only the first `samples` entries are used.
  torch::Tensor order;
};

// Recomputes the running statistics of every BN layer of `net` at its current parameters.
// Returns the number of examples used (0 when the network has no BN layer: nothing to do).
int64_t recalibrate_batchnorm(Network& net, const Dataset& data, torch::Device device,
                              const BnRecalibrationOptions& opts = {});

// Same, over images already prepared on `device` (N, C, H, W); the labels are not needed.
int64_t recalibrate_batchnorm_images(Network& net, const torch::Tensor& images, int64_t batch_size);

// A deterministic permutation of [0, n) (int64) from `seed`, independent of the torch generator:
// the subsets that BN statistics and subset losses use, identical in every process and shard.
torch::Tensor seeded_permutation(int64_t n, uint64_t seed);

}  // namespace closerlook
