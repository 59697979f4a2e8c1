// A learnable synthetic dataset for tests: every class is an oriented sinusoidal grating (its
// own angle and frequency, a phase per channel) plus Gaussian noise, so a small CNN separates
// the classes within a few dozen steps. Deterministic from the seed; train and test draw from
// independent streams but share the class patterns.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace closerlook {

struct RawImages {
  torch::Tensor images;  // (N, C, H, W): uint8 (0..255) or float32
  torch::Tensor labels;  // int64 (N)
};

// split: 0 = train, 1 = test. Images float32 roughly in [0, 1]; labels uniform in [0, classes).
RawImages make_synthetic(int64_t n, int64_t channels, int64_t size, int64_t classes, uint64_t seed, int split);

// The noise-free pattern of one class, (C, size, size), float32.
torch::Tensor synthetic_pattern(int64_t cls, int64_t channels, int64_t size, int64_t classes);

}  // namespace closerlook
