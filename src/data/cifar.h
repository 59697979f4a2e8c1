// CIFAR-10 / CIFAR-100 binary formats (the "-binary" archives).
// CIFAR-10: data_batch_{1..5}.bin + test_batch.bin, records of 1 label byte + 3072 bytes (CHW 3x32x32).
// CIFAR-100: train.bin + test.bin, records of 2 label bytes (coarse, fine) + 3072 bytes; the fine label is used.
#pragma once
#include <string>
#include <vector>

#include "data/synthetic.h"  // RawImages

namespace closerlook {

// Reads and concatenates `files` (uint8 (N,3,32,32), int64 labels). Error(BadInput) names the file
// when it is missing, empty, not a whole number of records, or holds a label out of range.
RawImages read_cifar10_files(const std::vector<std::string>& files);
RawImages read_cifar100_files(const std::vector<std::string>& files);

// The standard file lists inside `dir`; a missing folder is an Error(BadInput) naming it.
std::vector<std::string> cifar10_train_files(const std::string& dir);
std::vector<std::string> cifar10_test_files(const std::string& dir);
std::vector<std::string> cifar100_train_files(const std::string& dir);
std::vector<std::string> cifar100_test_files(const std::string& dir);

}  // namespace closerlook
