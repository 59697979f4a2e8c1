// Dataset selection from the config's [data] table, and loading with normalisation/subsets.
#pragma once
#include <string>

#include "core/config.h"
#include "data/dataset.h"
#include "data/loader.h"

namespace closerlook {

struct DataSpec {
  std::string dataset = "fashion-mnist";  // fashion-mnist | mnist | cifar10 | cifar100 | synthetic | npy
  std::string dir;                         // data folder ("" = the dataset's default location)
  int64_t train_subset = 0;                // 0 = all; else the first N (deterministic)
  int64_t test_subset = 0;
  bool augment = true;                     // random crop (pad 4) + horizontal flip on training batches
  bool flip = true;                        // flip is part of augmentation (off for digits)
  int64_t pad_to = 32;                     // 28x28 IDX images are zero-padded to this size
  // synthetic dataset (tests): N train/test examples, channels, size, classes
  int64_t synthetic_train = 512, synthetic_test = 256, synthetic_channels = 1, synthetic_size = 32,
          synthetic_classes = 10;
  uint64_t synthetic_seed = 0;
};

DataSpec read_data_spec(ConfigReader& r);   // reads the [data] table's keys
DataSplit load_data(const DataSpec& spec);  // Error(BadInput) names the missing/corrupt file
AugmentSpec augment_for(const DataSpec& spec);

}  // namespace closerlook
