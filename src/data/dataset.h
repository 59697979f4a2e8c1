// In-memory image classification datasets. Images are float32 (N, C, H, W), already
// normalised per channel; labels are int64 (N). Augmentation is applied per batch.
// A Dataset can live on any device (dataset_on): Fashion-MNIST and CIFAR-10 fit in GPU memory,
// and a dataset on the training device is batched and augmented there (data/loader.h).
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

// The first `limit` examples of `ds` (limit <= 0 or >= size: all) with images and labels on
// `device`. Shares the tensors (no copy) when they are already there and nothing is cut.
inline Dataset dataset_on(const Dataset& ds, torch::Device device, int64_t limit = 0) {
  const int64_t n = (limit > 0 && limit < ds.size()) ? limit : ds.size();
  if (!ds.images.defined() || (n == ds.size() && ds.images.device() == device && ds.labels.device() == device))
    return ds;
  Dataset out = ds;
  out.images = ds.images.narrow(0, 0, n).to(device).contiguous();
  out.labels = ds.labels.narrow(0, 0, n).to(device).contiguous();
  return out;
}

struct DataSplit {
  Dataset train, test;
};

}  // namespace closerlook
