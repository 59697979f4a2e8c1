// NPY datasets (dataset = "npy"): happy paths for uint8/float32 images and int32/int64 labels,
// and errors for wrong shapes, dtypes, counts and missing files.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/npy.h"
#include "data/load.h"
#include "data_test_util.h"

using namespace closerlook;
using namespace closerlook::testing;

namespace {
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

void write_split(const TempDir& d, const torch::Tensor& tri, const torch::Tensor& trl, const torch::Tensor& tei,
                 const torch::Tensor& tel) {
  write_npy(d.file("train_images.npy"), tri);
  write_npy(d.file("train_labels.npy"), trl);
  write_npy(d.file("test_images.npy"), tei);
  write_npy(d.file("test_labels.npy"), tel);
}

DataSpec npy_spec(const std::string& dir) {
  DataSpec s;
  s.dataset = "npy";
  s.dir = dir;
  return s;
}
}  // namespace

TEST(NpyDataset, Uint8ImagesAreScaledAndNormalisedWithTrainStats) {
  TempDir d;
  torch::manual_seed(2);
  auto tri = torch::randint(0, 256, {20, 2, 5, 6}, torch::kInt64).to(torch::kUInt8);
  auto tei = torch::randint(0, 256, {7, 2, 5, 6}, torch::kInt64).to(torch::kUInt8);
  auto trl = torch::randint(0, 4, {20}, torch::kInt64), tel = torch::randint(0, 6, {7}, torch::kInt32);
  tel[0] = 5;  // the largest label is in the test split
  write_split(d, tri, trl, tei, tel);
  DataSplit s = load_data(npy_spec(d.path));
  EXPECT_EQ(s.train.images.sizes(), tri.sizes());  // pad_to applies to IDX only
  EXPECT_EQ(s.train.num_classes, 6);
  EXPECT_EQ(s.test.labels.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(s.test.labels, tel.to(torch::kInt64)));
  auto x = tri.to(torch::kFloat64) / 255.0;
  for (int c = 0; c < 2; ++c) {
    const double m = x.select(1, c).mean().item<double>(), sd = x.select(1, c).std(false).item<double>();
    EXPECT_NEAR(s.train.mean[c], m, 1e-12);
    EXPECT_NEAR(s.train.std[c], sd, 1e-12);
    auto want = ((tei.select(1, c).to(torch::kFloat64) / 255.0 - m) / sd).to(torch::kFloat32);
    EXPECT_TRUE(torch::allclose(s.test.images.select(1, c), want, 1e-5, 1e-5));
  }
}

TEST(NpyDataset, Float32ImagesUsedAsIsAndNumClassesKey) {
  TempDir d;
  auto tri = torch::randn({10, 1, 4, 4}) * 3 + 1, tei = torch::randn({3, 1, 4, 4});
  write_split(d, tri, torch::zeros({10}, torch::kInt64), tei, torch::ones({3}, torch::kInt64));
  DataSpec spec = npy_spec(d.path);
  spec.num_classes = 7;
  DataSplit s = load_data(spec);
  EXPECT_EQ(s.train.num_classes, 7);
  const double m = tri.to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(s.train.mean[0], m, 1e-9);  // no /255 on float input
  spec.num_classes = 1;
  expect_error_naming([&] { load_data(spec); }, "label 1 is outside data.num_classes = 1");
}

TEST(NpyDataset, WrongShapesDtypesCountsAndMissingFiles) {
  TempDir d;
  auto img = torch::zeros({4, 1, 3, 3}, torch::kUInt8);
  auto lab = torch::zeros({4}, torch::kInt64);
  DataSpec spec = npy_spec(d.path);

  write_split(d, img.view({4, 9}), lab, img, lab);
  expect_error_naming([&] { load_data(spec); }, "train_images.npy: images must have shape (N, C, H, W), got (4, 9)");
  write_split(d, img.to(torch::kFloat64), lab, img, lab);
  expect_error_naming([&] { load_data(spec); }, "train_images.npy: images must be uint8 or float32, got Double");
  write_split(d, img, lab.to(torch::kFloat32), img, lab);
  expect_error_naming([&] { load_data(spec); }, "train_labels.npy: labels must be int64 or int32, got Float");
  write_split(d, img, lab.view({4, 1}), img, lab);
  expect_error_naming([&] { load_data(spec); }, "train_labels.npy: labels must have shape (N,), got (4, 1)");
  write_split(d, img, lab.narrow(0, 0, 3), img, lab);
  expect_error_naming([&] { load_data(spec); }, "train_labels.npy: 3 labels for 4 images");
  write_split(d, img, lab, torch::zeros({4, 1, 3, 4}, torch::kUInt8), lab);
  expect_error_naming([&] { load_data(spec); }, "test_images.npy: image shape (4, 1, 3, 4) does not match");
  write_split(d, img, lab - 1, img, lab);
  expect_error_naming([&] { load_data(spec); }, "train_labels.npy: negative label -1");
  write_split(d, img, lab, img, lab);
  std::filesystem::remove(d.file("test_labels.npy"));
  expect_error_naming([&] { load_data(spec); }, "test_labels.npy: NPY dataset file not found");
  spec.dir = d.file("nope");
  expect_error_naming([&] { load_data(spec); }, "nope: NPY data folder not found");
}
