#include "data/load.h"

#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/cifar.h"
#include "data/idx.h"
#include "data/normalize.h"
#include "data/npy_dataset.h"
#include "data/synthetic.h"

namespace closerlook {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
const std::vector<std::string> kDatasets = {"fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic", "npy"};

std::string join(const std::string& dir, const std::string& name) {
  return (!dir.empty() && dir.back() == '/') ? dir + name : dir + "/" + name;
}

// IDX train/test pair from `dir`, the standard MNIST file names (gzipped, or plain if that exists).
RawImages read_idx_pair(const std::string& dir, const std::string& prefix, const std::string& dataset) {
  auto pick = [&](const std::string& stem) {
    const std::string gz = join(dir, stem + ".gz"), plain = join(dir, stem);
    return file_exists(gz) || !file_exists(plain) ? gz : plain;
  };
  RawImages raw;
  const std::string ipath = pick(prefix + "-images-idx3-ubyte"), lpath = pick(prefix + "-labels-idx1-ubyte");
  torch::Tensor images = read_idx_images(ipath);
  torch::Tensor labels = read_idx_labels(lpath);
  if (images.size(0) != labels.size(0))
    throw_bad_input(ipath + " has " + std::to_string(images.size(0)) + " images but " + lpath + " has " +
                    std::to_string(labels.size(0)) + " labels");
  if (labels.numel() > 0 && labels.max().item<int64_t>() >= 10)
    throw_bad_input(lpath + ": label " + std::to_string(labels.max().item<int64_t>()) + " outside [0, 10) for " +
                    dataset);
  raw.images = images.unsqueeze(1);
  raw.labels = labels.to(torch::kInt64);
  return raw;
}

void require_folder(const std::string& dir, const std::string& dataset) {
  if (dir.empty()) throw_bad_input("data.dir must be set for dataset '" + dataset + "'");
  if (!file_exists(dir)) throw_bad_input(dir + ": " + dataset + " data folder not found (set data.dir)");
}

int64_t subset_size(int64_t subset, int64_t available, const char* key, const std::string& what) {
  if (subset <= 0) return available;
  if (subset > available)
    throw_bad_input("data." + std::string(key) + " = " + std::to_string(subset) + " exceeds the " +
                    std::to_string(available) + " examples of " + what);
  return subset;
}

Dataset finish(const std::string& name, const RawImages& raw, int64_t n, int64_t classes, const ChannelStats& st) {
  Dataset ds;
  ds.name = name;
  ds.images = normalize_images(raw.images.narrow(0, 0, n), st.mean, st.std).contiguous();
  ds.labels = raw.labels.narrow(0, 0, n).to(torch::kInt64).contiguous();
  ds.num_classes = classes;
  ds.mean = st.mean;
  ds.std = st.std;
  return ds;
}

}  // namespace

std::string default_data_dir(const std::string& dataset) {
  if (dataset == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  return "";
}

DataSpec read_data_spec(ConfigReader& r) {
  DataSpec s;
  s.dataset = r.get_enum("dataset", s.dataset, kDatasets);
  s.dir = r.get_string("dir", s.dir);
  s.train_subset = r.get_int("train_subset", s.train_subset, 0, kMax);
  s.test_subset = r.get_int("test_subset", s.test_subset, 0, kMax);
  s.augment = r.get_bool("augment", s.augment);
  s.flip = r.get_bool("flip", s.dataset != "mnist");  // mirrored digits are not digits
  s.pad_to = r.get_int("pad_to", s.pad_to, 0, 1024);
  s.crop_pad = r.get_int("crop_pad", s.crop_pad, 0, 64);
  s.num_classes = r.get_int("num_classes", s.num_classes, 0, 1000000);
  s.synthetic_train = r.get_int("synthetic_train", s.synthetic_train, 1, 10000000);
  s.synthetic_test = r.get_int("synthetic_test", s.synthetic_test, 0, 10000000);
  s.synthetic_channels = r.get_int("synthetic_channels", s.synthetic_channels, 1, 64);
  s.synthetic_size = r.get_int("synthetic_size", s.synthetic_size, 4, 512);
  s.synthetic_classes = r.get_int("synthetic_classes", s.synthetic_classes, 2, 1000);
  s.synthetic_seed = static_cast<uint64_t>(r.get_int("synthetic_seed", 0, 0, kMax));
  r.finish();
  return s;
}

AugmentSpec augment_for(const DataSpec& spec) {
  AugmentSpec a;
  a.crop = spec.augment && spec.crop_pad > 0;
  a.pad = spec.crop_pad;
  a.flip = spec.augment && spec.flip;
  return a;
}

DataSplit load_data(const DataSpec& spec) {
  RawImages train, test;
  int64_t classes = 0;
  bool fixed_stats = false;
  ChannelStats st;
  const std::string& ds = spec.dataset;
  if (ds == "fashion-mnist" || ds == "mnist") {
    const std::string dir = spec.dir.empty() ? default_data_dir(ds) : spec.dir;
    require_folder(dir, ds);
    train = read_idx_pair(dir, "train", ds);
    test = read_idx_pair(dir, "t10k", ds);
    train.images = pad_images_to(train.images, spec.pad_to, join(dir, "train-images-idx3-ubyte"));
    test.images = pad_images_to(test.images, spec.pad_to, join(dir, "t10k-images-idx3-ubyte"));
    classes = 10;
  } else if (ds == "cifar10") {
    train = read_cifar10_files(cifar10_train_files(spec.dir));
    test = read_cifar10_files(cifar10_test_files(spec.dir));
    classes = 10;
    st = {{0.4914, 0.4822, 0.4465}, {0.2023, 0.1994, 0.2010}};
    fixed_stats = true;
  } else if (ds == "cifar100") {
    train = read_cifar100_files(cifar100_train_files(spec.dir));
    test = read_cifar100_files(cifar100_test_files(spec.dir));
    classes = 100;
    st = {{0.5071, 0.4865, 0.4409}, {0.2673, 0.2564, 0.2762}};
    fixed_stats = true;
  } else if (ds == "synthetic") {
    train = make_synthetic(spec.synthetic_train, spec.synthetic_channels, spec.synthetic_size, spec.synthetic_classes,
                           spec.synthetic_seed, 0);
    test = make_synthetic(spec.synthetic_test, spec.synthetic_channels, spec.synthetic_size, spec.synthetic_classes,
                          spec.synthetic_seed, 1);
    classes = spec.synthetic_classes;
  } else if (ds == "npy") {
    NpySplit s = read_npy_dataset(spec.dir, spec.num_classes);
    train = std::move(s.train);
    test = std::move(s.test);
    classes = s.num_classes;
  } else {
    throw_bad_input("data.dataset: unknown dataset '" + ds + "'");
  }
  // Statistics from the whole (padded) training set, not the subset: a subset run then uses
  // the same input scaling as a full run, so their models can be compared on the same data.
  if (!fixed_stats) st = channel_stats(train.images);
  const int64_t ntrain = subset_size(spec.train_subset, train.images.size(0), "train_subset", ds + "/train");
  const int64_t ntest = subset_size(spec.test_subset, test.images.size(0), "test_subset", ds + "/test");
  DataSplit split;
  split.train = finish(ds + "/train", train, ntrain, classes, st);
  split.test = finish(ds + "/test", test, ntest, classes, st);
  return split;
}

std::vector<int64_t> label_histogram(const Dataset& ds) {
  std::vector<int64_t> h(static_cast<size_t>(std::max<int64_t>(ds.num_classes, 0)), 0);
  if (ds.size() == 0) return h;
  torch::Tensor counts = torch::bincount(ds.labels, {}, ds.num_classes);
  for (int64_t k = 0; k < std::min<int64_t>(counts.size(0), ds.num_classes); ++k) h[size_t(k)] = counts[k].item<int64_t>();
  return h;
}

}  // namespace closerlook
