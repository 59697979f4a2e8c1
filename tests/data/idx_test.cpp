// IDX reader and the fashion-mnist/mnist loading path on generated files (gz and plain).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "core/error.h"
#include "data/idx.h"
#include "data/load.h"
#include "data_test_util.h"

using namespace closerlook;
using namespace closerlook::testing;

namespace {
// Runs f, expects closerlook::Error(BadInput) whose message contains `needle`.
template <class F>
void expect_error_naming(F f, const std::string& needle) {
  try {
    f();
    FAIL() << "no error; expected one naming " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(Idx, ReadsGzipAndPlainFilesIdentically) {
  for (bool gz : {true, false}) {
    TempDir d;
    auto f = write_idx_dataset(d.path, 9, 4, gz, 5);
    const std::string ext = gz ? ".gz" : "";
    auto img = read_idx_images(d.file("train-images-idx3-ubyte" + ext));
    auto lab = read_idx_labels(d.file("train-labels-idx1-ubyte" + ext));
    EXPECT_TRUE(torch::equal(img, f.train_images)) << "gz=" << gz;
    EXPECT_TRUE(torch::equal(lab, f.train_labels));
  }
}

TEST(Idx, WrongMagicTruncatedTrailingAndMissingAreErrorsNamingTheFile) {
  TempDir d;
  auto imgs = torch::randint(0, 256, {3, 4, 4}, torch::kInt64).to(torch::kUInt8);
  auto bytes = idx_images_bytes(imgs);
  write_bytes(d.file("magic.gz"), idx_images_bytes(imgs, 0x00000801), true);
  expect_error_naming([&] { read_idx_images(d.file("magic.gz")); }, "magic.gz: wrong IDX magic 0x00000801");
  write_bytes(d.file("labels_as_images"), idx_labels_bytes(torch::zeros({3})), false);
  expect_error_naming([&] { read_idx_images(d.file("labels_as_images")); }, "labels_as_images");
  write_bytes(d.file("short.gz"), bytes.substr(0, bytes.size() - 5), true);
  expect_error_naming([&] { read_idx_images(d.file("short.gz")); }, "short.gz: truncated IDX payload: expected 48 bytes, got 43");
  write_bytes(d.file("short"), bytes.substr(0, 10), false);
  expect_error_naming([&] { read_idx_images(d.file("short")); }, "short: truncated IDX header");
  write_bytes(d.file("long"), bytes + "xx", false);
  expect_error_naming([&] { read_idx_images(d.file("long")); }, "long: IDX file has trailing bytes");
  expect_error_naming([&] { read_idx_labels(d.file("absent.gz")); }, "absent.gz: IDX file not found");
  // A gzip stream cut in the middle, and one with corrupted compressed bytes.
  auto big = torch::randint(0, 256, {50, 28, 28}, torch::kInt64).to(torch::kUInt8);
  write_bytes(d.file("whole.gz"), idx_images_bytes(big), true);
  std::string gzb;
  {
    std::ifstream in(d.file("whole.gz"), std::ios::binary);
    gzb.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_bytes(d.file("cut.gz"), gzb.substr(0, gzb.size() / 2), false);
  expect_error_naming([&] { read_idx_images(d.file("cut.gz")); }, "cut.gz: ");
  std::string bad = gzb;
  for (size_t k = 40; k < 60; ++k) bad[k] = char(~bad[k]);
  write_bytes(d.file("corrupt.gz"), bad, false);
  expect_error_naming([&] { read_idx_images(d.file("corrupt.gz")); }, "corrupt.gz: ");
}

TEST(Idx, LoadPadsNormalisesAndRecordsStats) {
  TempDir d;
  auto f = write_idx_dataset(d.path, 12, 5, true);
  DataSpec spec;
  spec.dataset = "fashion-mnist";
  spec.dir = d.path;
  DataSplit s = load_data(spec);
  ASSERT_EQ(s.train.size(), 12);
  ASSERT_EQ(s.test.size(), 5);
  EXPECT_EQ(s.train.images.sizes(), (std::vector<int64_t>{12, 1, 32, 32}));
  EXPECT_EQ(s.train.num_classes, 10);
  EXPECT_EQ(s.train.name, "fashion-mnist/train");
  EXPECT_TRUE(torch::equal(s.train.labels, f.train_labels.to(torch::kInt64)));
  // Oracle statistics: the zero-padded training images in [0, 1], float64.
  auto padded = torch::zeros({12, 32, 32}, torch::kFloat64);
  padded.narrow(1, 2, 28).narrow(2, 2, 28).copy_(f.train_images.to(torch::kFloat64) / 255.0);
  const double mean = padded.mean().item<double>(), std = padded.std(false).item<double>();
  ASSERT_EQ(s.train.mean.size(), 1u);
  EXPECT_NEAR(s.train.mean[0], mean, 1e-12);
  EXPECT_NEAR(s.train.std[0], std, 1e-12);
  EXPECT_EQ(s.test.mean, s.train.mean);
  // Values: interior pixels are (v/255 - mean)/std; the 2-pixel border is normalised black.
  auto tpad = torch::zeros({5, 32, 32}, torch::kFloat64);
  tpad.narrow(1, 2, 28).narrow(2, 2, 28).copy_(f.test_images.to(torch::kFloat64) / 255.0);
  auto want = ((tpad - mean) / std).to(torch::kFloat32);
  EXPECT_TRUE(torch::allclose(s.test.images.select(1, 0), want, 1e-5, 1e-5));
  const float black = float(-mean / std);
  auto near_black = [&](const torch::Tensor& t) { return torch::allclose(t, torch::full_like(t, black), 1e-6, 1e-6); };
  EXPECT_TRUE(near_black(s.test.images.narrow(2, 0, 2)));
  EXPECT_TRUE(near_black(s.test.images.narrow(3, 30, 2)));
  // The normalised training set has mean 0, std 1.
  EXPECT_NEAR(s.train.images.to(torch::kFloat64).mean().item<double>(), 0.0, 1e-5);
  EXPECT_NEAR(s.train.images.to(torch::kFloat64).std(false).item<double>(), 1.0, 1e-5);
}

TEST(Idx, PlainFilesPadToOffAndSubsets) {
  TempDir d;
  auto f = write_idx_dataset(d.path, 12, 5, false);
  DataSpec spec;
  spec.dataset = "mnist";
  spec.dir = d.path;
  spec.pad_to = 0;
  spec.train_subset = 7;
  spec.test_subset = 3;
  DataSplit s = load_data(spec);
  EXPECT_EQ(s.train.images.sizes(), (std::vector<int64_t>{7, 1, 28, 28}));
  EXPECT_EQ(s.test.size(), 3);
  EXPECT_TRUE(torch::equal(s.train.labels, f.train_labels.narrow(0, 0, 7).to(torch::kInt64)));
  // Subset = the first N of the full load, with the same (full-set) statistics.
  spec.train_subset = 0;
  spec.test_subset = 0;
  DataSplit full = load_data(spec);
  EXPECT_TRUE(torch::equal(s.train.images, full.train.images.narrow(0, 0, 7)));
  EXPECT_EQ(s.train.mean, full.train.mean);
  spec.train_subset = 13;
  expect_error_naming([&] { load_data(spec); }, "data.train_subset = 13 exceeds the 12");
  spec.train_subset = 0;
  spec.pad_to = 20;
  expect_error_naming([&] { load_data(spec); }, "data.pad_to = 20");
}

TEST(Idx, CountMismatchBadLabelAndMissingFolder) {
  TempDir d;
  write_idx_dataset(d.path, 6, 4, true);
  write_bytes(d.file("t10k-labels-idx1-ubyte.gz"), idx_labels_bytes(torch::zeros({3})), true);
  DataSpec spec;
  spec.dir = d.path;
  expect_error_naming([&] { load_data(spec); }, "t10k-images-idx3-ubyte.gz has 4 images but");
  write_bytes(d.file("t10k-labels-idx1-ubyte.gz"), idx_labels_bytes(torch::full({4}, 10)), true);
  expect_error_naming([&] { load_data(spec); }, "t10k-labels-idx1-ubyte.gz: label 10");
  std::filesystem::remove(d.file("t10k-labels-idx1-ubyte.gz"));
  expect_error_naming([&] { load_data(spec); }, "t10k-labels-idx1-ubyte.gz: IDX file not found");
  spec.dir = d.file("nowhere");
  expect_error_naming([&] { load_data(spec); }, "nowhere: fashion-mnist data folder not found");
}
