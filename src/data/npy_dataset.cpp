#include "data/npy_dataset.h"

#include <sys/stat.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/npy.h"

namespace closerlook {
namespace {

std::string shape_str(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + (t.dim() == 1 ? ",)" : ")");
}

torch::Tensor read_images(const std::string& path) {
  if (!file_exists(path)) throw_bad_input(path + ": NPY dataset file not found");
  torch::Tensor t = read_npy(path);
  if (t.dim() != 4)
    throw_bad_input(path + ": images must have shape (N, C, H, W), got " + shape_str(t));
  if (t.scalar_type() != torch::kUInt8 && t.scalar_type() != torch::kFloat32)
    throw_bad_input(path + ": images must be uint8 or float32, got " + std::string(c10::toString(t.scalar_type())));
  if (t.size(1) < 1 || t.size(2) < 1 || t.size(3) < 1) throw_bad_input(path + ": empty image dims " + shape_str(t));
  if (t.scalar_type() == torch::kFloat32 && !torch::isfinite(t).all().item<bool>())
    throw_bad_input(path + ": images contain NaN or infinity");
  return t;
}

torch::Tensor read_labels(const std::string& path, int64_t n) {
  if (!file_exists(path)) throw_bad_input(path + ": NPY dataset file not found");
  torch::Tensor t = read_npy(path);
  if (t.dim() != 1) throw_bad_input(path + ": labels must have shape (N,), got " + shape_str(t));
  if (t.scalar_type() != torch::kInt64 && t.scalar_type() != torch::kInt32)
    throw_bad_input(path + ": labels must be int64 or int32, got " + std::string(c10::toString(t.scalar_type())));
  if (t.size(0) != n)
    throw_bad_input(path + ": " + std::to_string(t.size(0)) + " labels for " + std::to_string(n) + " images");
  t = t.to(torch::kInt64);
  if (n > 0 && t.min().item<int64_t>() < 0)
    throw_bad_input(path + ": negative label " + std::to_string(t.min().item<int64_t>()));
  return t;
}

}  // namespace

NpySplit read_npy_dataset(const std::string& dir, int64_t num_classes) {
  struct stat st {};
  if (dir.empty()) throw_bad_input("data.dir must name the NPY dataset folder (dataset = \"npy\")");
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw_bad_input(dir + ": NPY data folder not found");
  const std::string base = dir.back() == '/' ? dir : dir + "/";
  NpySplit s;
  s.train.images = read_images(base + "train_images.npy");
  s.train.labels = read_labels(base + "train_labels.npy", s.train.images.size(0));
  s.test.images = read_images(base + "test_images.npy");
  s.test.labels = read_labels(base + "test_labels.npy", s.test.images.size(0));
  if (s.train.images.size(0) == 0) throw_bad_input(base + "train_images.npy: no training images");
  if (s.train.images.sizes().slice(1) != s.test.images.sizes().slice(1))
    throw_bad_input(base + "test_images.npy: image shape " + shape_str(s.test.images) +
                    " does not match train_images.npy " + shape_str(s.train.images));
  if (s.train.images.scalar_type() != s.test.images.scalar_type())
    throw_bad_input(base + "test_images.npy: dtype differs from train_images.npy");
  int64_t max_label = s.train.labels.max().item<int64_t>();
  if (s.test.labels.numel() > 0) max_label = std::max(max_label, s.test.labels.max().item<int64_t>());
  if (num_classes <= 0) {
    s.num_classes = max_label + 1;
  } else {
    if (max_label >= num_classes)
      throw_bad_input(base + ": label " + std::to_string(max_label) + " is outside data.num_classes = " +
                      std::to_string(num_classes));
    s.num_classes = num_classes;
  }
  return s;
}

}  // namespace closerlook
