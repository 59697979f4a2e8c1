#include "data/cifar.h"

#include <sys/stat.h>

#include <cstring>

#include "core/atomic_file.h"
#include "core/error.h"

namespace closerlook {
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

void require_dir(const std::string& dir, const char* what) {
  struct stat st {};
  if (dir.empty()) throw_bad_input(std::string("data.dir must name the ") + what + " folder");
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw_bad_input(dir + ": " + what + " data folder not found");
}

std::string join(const std::string& dir, const std::string& name) {
  return (!dir.empty() && dir.back() == '/') ? dir + name : dir + "/" + name;
}

// label_bytes: 1 (CIFAR-10) or 2 (CIFAR-100: coarse then fine). Uses the last label byte.
RawImages read_records(const std::vector<std::string>& files, int label_bytes, int64_t classes, int64_t coarse_classes) {
  const int64_t record = label_bytes + kPixels;
  std::vector<torch::Tensor> images, labels;
  for (const auto& path : files) {
    if (!file_exists(path)) throw_bad_input(path + ": CIFAR file not found");
    const std::string bytes = read_file(path);
    const int64_t size = static_cast<int64_t>(bytes.size());
    if (size == 0 || size % record != 0)
      throw_bad_input(path + ": size " + std::to_string(size) + " bytes is not a positive multiple of the " +
                      std::to_string(record) + "-byte CIFAR record (truncated or wrong format?)");
    const int64_t n = size / record;
    torch::Tensor rec = torch::from_blob(const_cast<char*>(bytes.data()), {n, record}, torch::kUInt8);
    torch::Tensor lab = rec.select(1, label_bytes - 1).to(torch::kInt64);
    const int64_t bad = (lab >= classes).nonzero().numel() > 0 ? (lab >= classes).nonzero()[0][0].item<int64_t>() : -1;
    if (bad >= 0)
      throw_bad_input(path + ": record " + std::to_string(bad) + " has label " +
                      std::to_string(lab[bad].item<int64_t>()) + ", outside [0, " + std::to_string(classes) + ")");
    if (coarse_classes > 0) {
      torch::Tensor coarse = rec.select(1, 0).to(torch::kInt64);
      auto over = (coarse >= coarse_classes).nonzero();
      if (over.numel() > 0) {
        const int64_t r = over[0][0].item<int64_t>();
        throw_bad_input(path + ": record " + std::to_string(r) + " has coarse label " +
                        std::to_string(coarse[r].item<int64_t>()) + ", outside [0, " + std::to_string(coarse_classes) +
                        ")");
      }
    }
    images.push_back(rec.narrow(1, label_bytes, kPixels).reshape({n, 3, 32, 32}).clone());
    labels.push_back(lab);
  }
  return {torch::cat(images), torch::cat(labels)};
}

}  // namespace

RawImages read_cifar10_files(const std::vector<std::string>& files) { return read_records(files, 1, 10, 0); }
RawImages read_cifar100_files(const std::vector<std::string>& files) { return read_records(files, 2, 100, 20); }

std::vector<std::string> cifar10_train_files(const std::string& dir) {
  require_dir(dir, "CIFAR-10");
  std::vector<std::string> f;
  for (int i = 1; i <= 5; ++i) f.push_back(join(dir, "data_batch_" + std::to_string(i) + ".bin"));
  return f;
}
std::vector<std::string> cifar10_test_files(const std::string& dir) {
  require_dir(dir, "CIFAR-10");
  return {join(dir, "test_batch.bin")};
}
std::vector<std::string> cifar100_train_files(const std::string& dir) {
  require_dir(dir, "CIFAR-100");
  return {join(dir, "train.bin")};
}
std::vector<std::string> cifar100_test_files(const std::string& dir) {
  require_dir(dir, "CIFAR-100");
  return {join(dir, "test.bin")};
}

}  // namespace closerlook
