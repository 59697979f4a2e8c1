// Dataset selection from the config's [data] table, and loading with normalisation/subsets.
#pragma once
#include <string>
#include <vector>

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
  // Additions beyond the original contract:
  int64_t crop_pad = 4;      // padding of the random crop (AugmentSpec::pad)
  int64_t num_classes = 0;   // npy only: 0 = max label + 1
};

// The default folder of a dataset ("" when it has none and data.dir must be given).
std::string default_data_dir(const std::string& dataset);

// Reads the [data] table's keys (r is a reader over that table, e.g. root.section("data")) and
// calls r.finish(), so a misspelt data key is rejected here. `flip` defaults to false for mnist.
DataSpec read_data_spec(ConfigReader& r);
// Loads, pads (IDX), normalises (stats from the full, padded training set; fixed constants for
// CIFAR) and takes the first train_subset/test_subset examples. Error(BadInput) names the
// missing/corrupt file or the bad value.
DataSplit load_data(const DataSpec& spec);
// crop = augment (pad = crop_pad), flip = augment && flip.
AugmentSpec augment_for(const DataSpec& spec);
// Per-class counts of ds.labels (length num_classes).
std::vector<int64_t> label_histogram(const Dataset& ds);

}  // namespace closerlook
