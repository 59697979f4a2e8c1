// IDX files (MNIST / Fashion-MNIST), read directly from .gz or plain files via zlib.
// Format: big-endian uint32 magic 0x00000803 (images, dims N,rows,cols) or 0x00000801
// (labels, dim N), then the uint8 payload.
#pragma once
#include <torch/torch.h>

#include <string>

namespace closerlook {

// uint8 (N, rows, cols). Error(BadInput) names the file on a missing file, a wrong magic, bad
// dims, a truncated payload (expected vs actual bytes), trailing bytes or a corrupt .gz stream.
torch::Tensor read_idx_images(const std::string& path);
// uint8 (N).
torch::Tensor read_idx_labels(const std::string& path);

}  // namespace closerlook
