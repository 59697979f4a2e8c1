// "Bring your own data": a dataset folder of NPY files
//   train_images.npy, train_labels.npy, test_images.npy, test_labels.npy
// images (N, C, H, W) uint8 (scaled by 1/255) or float32 (used as is); labels (N) int64 or int32.
#pragma once
#include <string>

#include "data/synthetic.h"  // RawImages

namespace closerlook {

struct NpySplit {
  RawImages train, test;
  int64_t num_classes = 0;
};

// num_classes <= 0: max label + 1 over both splits. Every shape/dtype/count/range problem is an
// Error(BadInput) naming the file.
NpySplit read_npy_dataset(const std::string& dir, int64_t num_classes);

}  // namespace closerlook
