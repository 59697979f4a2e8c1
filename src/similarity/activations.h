// Activation capture: run a Network over the first N examples of a Dataset (eval mode, no
// augmentation, in batches) and record every probe point as a 2-D (rows x features) matrix.
//
// Conv outputs (N, C, H, W) become, by choice (recorded in the metadata):
//   gap      -- global average pool: N x C
//   spatial  -- every spatial position is a datapoint: (N*H'*W') x C, positions optionally
//               subsampled with a stride (H' = ceil(H/s)); rows ordered (example, h, w)
//   flatten  -- N x (C*H*W)
// 2-D outputs (N, F) are kept as they are in every mode.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "models/network.h"

namespace closerlook {

enum class ConvMode { Gap, Spatial, Flatten };
std::string conv_mode_name(ConvMode m);
ConvMode parse_conv_mode(const std::string& s);  // gap | spatial | flatten

struct CaptureOptions {
  int64_t examples = 1000;          // the first N examples of the dataset (0 = all)
  int64_t batch = 256;
  ConvMode conv_mode = ConvMode::Gap;
  int64_t spatial_stride = 1;       // spatial mode: keep every s-th row and column
  std::vector<std::string> probes;  // empty = every probe point, in probe_names() order
  torch::Device device = torch::kCPU;
};

struct CapturedActivations {
  std::vector<NamedTensor> layers;  // float32, CPU, contiguous, (rows x features)
  // {"format", "examples", "conv_mode", "spatial_stride", "dataset", "layers": [{"name", "rows",
  //  "features", "raw_shape"}], plus whatever the caller adds under "source"}.
  nlohmann::json meta = nlohmann::json::object();
};

// Reduces one probe's output (N, ...) to 2-D as described above.
torch::Tensor reduce_activation(const torch::Tensor& raw, ConvMode mode, int64_t spatial_stride = 1);

// Error(BadInput) for N larger than the dataset, an unknown probe, a bad batch or stride.
// The network's train/eval mode is restored afterwards.
CapturedActivations capture_activations(Network& net, const Dataset& data, const CaptureOptions& opts);

// <dir>/activations.json plus one float32 C-order <dir>/NN_<layer>.npy per layer, atomically.
void save_activations(const std::string& dir, const CapturedActivations& acts);
// Error(BadInput) naming the file when the index or an array is missing or inconsistent.
CapturedActivations load_activations(const std::string& dir);
bool is_activation_dir(const std::string& path);

// One (examples x features) matrix from a .npy file: float32 or float64, 2-D (a 1-D array is one
// feature). Error(BadInput) naming the file otherwise. `neuron_major` transposes (google layout).
torch::Tensor read_activation_npy(const std::string& path, bool neuron_major = false);

}  // namespace closerlook
