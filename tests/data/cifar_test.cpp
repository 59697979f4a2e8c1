// CIFAR-10 / CIFAR-100 binary readers on generated files in the exact record formats.
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/cifar.h"
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
torch::Tensor random_images(int64_t n) { return torch::randint(0, 256, {n, 3, 32, 32}, torch::kInt64).to(torch::kUInt8); }
}  // namespace

TEST(Cifar10, ReadsAllBatchesInOrderWithFixedNormalisation) {
  TempDir d;
  torch::manual_seed(1);
  std::vector<torch::Tensor> imgs, labs;
  for (int b = 1; b <= 5; ++b) {
    imgs.push_back(random_images(b));  // batches of 1..5 records
    labs.push_back(torch::randint(0, 10, {b}, torch::kInt64));
    write_bytes(d.file("data_batch_" + std::to_string(b) + ".bin"), cifar_bytes(imgs.back(), labs.back()), false);
  }
  auto timg = random_images(4);
  auto tlab = torch::tensor({9, 0, 3, 3}, torch::kInt64);
  write_bytes(d.file("test_batch.bin"), cifar_bytes(timg, tlab), false);

  DataSpec spec;
  spec.dataset = "cifar10";
  spec.dir = d.path;
  DataSplit s = load_data(spec);
  ASSERT_EQ(s.train.size(), 15);
  EXPECT_EQ(s.test.size(), 4);
  EXPECT_EQ(s.train.num_classes, 10);
  EXPECT_TRUE(torch::equal(s.train.labels, torch::cat(labs)));
  EXPECT_TRUE(torch::equal(s.test.labels, tlab));
  EXPECT_EQ(s.train.mean, (std::vector<double>{0.4914, 0.4822, 0.4465}));
  EXPECT_EQ(s.train.std, (std::vector<double>{0.2023, 0.1994, 0.2010}));
  // CHW order and normalisation: pixel (c, y, x) = (byte/255 - mean_c)/std_c.
  const std::vector<double> m = s.train.mean, sd = s.train.std;
  auto raw = torch::cat(imgs).to(torch::kFloat64) / 255.0;
  for (int c = 0; c < 3; ++c) {
    auto want = ((raw.select(1, c) - m[c]) / sd[c]).to(torch::kFloat32);
    EXPECT_TRUE(torch::allclose(s.train.images.select(1, c), want, 1e-5, 1e-5)) << c;
  }
}

TEST(Cifar100, UsesFineLabelsAndValidatesBoth) {
  TempDir d;
  auto img = random_images(3);
  auto fine = torch::tensor({99, 0, 42}, torch::kInt64), coarse = torch::tensor({19, 0, 7}, torch::kInt64);
  write_bytes(d.file("train.bin"), cifar_bytes(img, fine, coarse), false);
  write_bytes(d.file("test.bin"), cifar_bytes(img.narrow(0, 0, 1), fine.narrow(0, 0, 1), coarse.narrow(0, 0, 1)), false);
  DataSpec spec;
  spec.dataset = "cifar100";
  spec.dir = d.path;
  DataSplit s = load_data(spec);
  EXPECT_TRUE(torch::equal(s.train.labels, fine));
  EXPECT_EQ(s.train.num_classes, 100);
  EXPECT_EQ(s.train.mean, (std::vector<double>{0.5071, 0.4865, 0.4409}));
  auto want0 = ((img[0][0].to(torch::kFloat64) / 255.0 - 0.5071) / 0.2673).to(torch::kFloat32);
  EXPECT_TRUE(torch::allclose(s.train.images[0][0], want0, 1e-5, 1e-5));

  write_bytes(d.file("bad_fine.bin"), cifar_bytes(img, torch::tensor({100, 0, 0}), coarse), false);
  expect_error_naming([&] { read_cifar100_files({d.file("bad_fine.bin")}); }, "bad_fine.bin: record 0 has label 100");
  write_bytes(d.file("bad_coarse.bin"), cifar_bytes(img, fine, torch::tensor({0, 20, 0})), false);
  expect_error_naming([&] { read_cifar100_files({d.file("bad_coarse.bin")}); }, "bad_coarse.bin: record 1 has coarse label 20");
}

TEST(Cifar, TruncatedBadLabelMissingFileAndFolder) {
  TempDir d;
  auto img = random_images(2);
  std::string bytes = cifar_bytes(img, torch::tensor({1, 2}));
  write_bytes(d.file("short.bin"), bytes.substr(0, bytes.size() - 1), false);
  expect_error_naming([&] { read_cifar10_files({d.file("short.bin")}); },
                      "short.bin: size 6145 bytes is not a positive multiple of the 3073-byte");
  write_bytes(d.file("empty.bin"), "", false);
  expect_error_naming([&] { read_cifar10_files({d.file("empty.bin")}); }, "empty.bin: size 0");
  write_bytes(d.file("label.bin"), cifar_bytes(img, torch::tensor({3, 10})), false);
  expect_error_naming([&] { read_cifar10_files({d.file("label.bin")}); }, "label.bin: record 1 has label 10");
  // The CIFAR-100 record size is not accepted as CIFAR-10.
  write_bytes(d.file("c100.bin"), cifar_bytes(img, torch::tensor({1, 2}), torch::tensor({0, 0})), false);
  expect_error_naming([&] { read_cifar10_files({d.file("c100.bin")}); }, "c100.bin: size 6148");

  DataSpec spec;
  spec.dataset = "cifar10";
  spec.dir = d.path;  // folder exists but holds no data_batch_1.bin
  expect_error_naming([&] { load_data(spec); }, "data_batch_1.bin: CIFAR file not found");
  spec.dir = d.file("missing");
  expect_error_naming([&] { load_data(spec); }, "missing: CIFAR-10 data folder not found");
  spec.dir = "";
  expect_error_naming([&] { load_data(spec); }, "data.dir must name the CIFAR-10 folder");
}
