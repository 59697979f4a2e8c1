// In-memory image classification datasets. Images are float32 (N, C, H, W), already
// normalised per channel; labels are int64 (N). Augmentation is applied per batch.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace closerlook {

struct Dataset {
  std::string name;             // "fashion-mnist/train", "cifar10/test", "synthetic/train", ...
  torch::Tensor images;         // float32 (N, C, H, W), normalised
  torch::Tensor labels;         // int64 (N)
  int64_t num_classes = 0;
  std::vector<double> mean, std;  // per-channel normalisation that was applied

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
};

struct DataSplit {
  Dataset train, test;
};

}  // namespace closerlook
