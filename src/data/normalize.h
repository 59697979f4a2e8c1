// Per-channel normalisation and zero padding, applied once when a dataset is loaded.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace closerlook {

struct ChannelStats {
  std::vector<double> mean, std;  // population std over (N, H, W), per channel
};

// Statistics of x (N, C, H, W) in [0,1] units: uint8 is scaled by 1/255, float is taken as is.
// Accumulated in float64 over chunks, so a 60000-image set neither loses precision nor
// needs a float64 copy of itself. A constant channel gets std 1 (no division by zero).
ChannelStats channel_stats(const torch::Tensor& x);

// Returns float32 (x [/255 if uint8] - mean) / std, per channel.
torch::Tensor normalize_images(const torch::Tensor& x, const std::vector<double>& mean, const std::vector<double>& std);

// Zero-pads (N, C, H, W) to (size, size), centred (an odd remainder goes right/bottom).
// size <= 0 or equal to the current size returns x. A size smaller than H or W is an error.
torch::Tensor pad_images_to(const torch::Tensor& x, int64_t size, const std::string& what);

}  // namespace closerlook
