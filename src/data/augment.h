// Batch-level augmentation: random crop after padding with normalised black, and horizontal
// flip. The random choices are passed in explicitly (the loader draws them from its keyed RNG),
// so these functions are deterministic and directly testable.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace closerlook {

struct ExampleAugment {
  int64_t dy = 0, dx = 0;  // crop offset into the padded image, each in [0, 2*pad]
  bool flip = false;       // mirror the columns (after cropping)
};

// Per-channel value of a black (0) pixel after normalisation: -mean/std. Empty mean -> zeros.
std::vector<double> normalised_black(const std::vector<double>& mean, const std::vector<double>& std, int64_t channels);

// x: float (B, C, H, W). Pads every image by `pad` on each side with fill[c] (one pad for the
// whole batch), then crops H x W at (ops[j].dy, ops[j].dx) and mirrors when ops[j].flip.
// pad = 0 with dy = dx = 0 is the identity on the crop. Returns a new tensor of x's shape.
torch::Tensor apply_augment(const torch::Tensor& x, const std::vector<ExampleAugment>& ops, int64_t pad,
                            const std::vector<double>& fill);

// apply_augment(images.index_select(0, idx), ...) without the intermediate batch copy (a direct
// gather for contiguous CPU float32 images; the generic path otherwise).
torch::Tensor gather_augment(const torch::Tensor& images, const torch::Tensor& idx,
                             const std::vector<ExampleAugment>& ops, int64_t pad, const std::vector<double>& fill);

// The same gather with the choices as a tensor: ops (B, 3) int64 rows (dy, dx, flip) and fill
// (C) on the device of `images`. A handful of whole-batch tensor operations (one flat gather
// and a select), no per-example work and no host synchronisation, so a dataset kept on the
// GPU is augmented there. Every output pixel is a copy of a source pixel or of fill[c], so the
// result is bit-identical to the CPU path for the same choices.
torch::Tensor gather_augment_tensor(const torch::Tensor& images, const torch::Tensor& idx, const torch::Tensor& ops,
                                    int64_t pad, const torch::Tensor& fill);

// ops as a (B, 3) int64 CPU tensor of rows (dy, dx, flip), the layout gather_augment_tensor takes.
torch::Tensor augment_ops_tensor(const std::vector<ExampleAugment>& ops);

}  // namespace closerlook
