// The real Fashion-MNIST from Debian's dataset-fashion-mnist package (skipped when absent, a
// failure in CI: tests/common/require.h).
#include <gtest/gtest.h>

#include "../common/require.h"
#include "core/atomic_file.h"
#include "data/load.h"

using namespace closerlook;

TEST(FashionMnist, FullDatasetShapesClassesAndBorder) {
  const std::string dir = default_data_dir("fashion-mnist");
  CL_REQUIRE_OR_SKIP(file_exists(dir + "/train-images-idx3-ubyte.gz"),
                     dir << " not installed (scripts/setup installs Debian's dataset-fashion-mnist)");
  DataSpec spec;  // defaults: fashion-mnist, pad_to 32
  DataSplit s = load_data(spec);
  EXPECT_EQ(s.train.size(), 60000);
  EXPECT_EQ(s.test.size(), 10000);
  EXPECT_EQ(s.train.images.sizes(), (std::vector<int64_t>{60000, 1, 32, 32}));
  EXPECT_EQ(s.train.num_classes, 10);
  // Fashion-MNIST is balanced: 6000 / 1000 per class.
  EXPECT_EQ(label_histogram(s.train), std::vector<int64_t>(10, 6000));
  EXPECT_EQ(label_histogram(s.test), std::vector<int64_t>(10, 1000));
  // The 2-pixel frame added by padding is normalised black everywhere.
  ASSERT_EQ(s.train.mean.size(), 1u);
  const double black = -s.train.mean[0] / s.train.std[0];
  for (const Dataset* ds : {&s.train, &s.test}) {
    auto x = ds->images.select(1, 0);
    for (auto frame : {x.narrow(1, 0, 2), x.narrow(1, 30, 2), x.narrow(2, 0, 2), x.narrow(2, 30, 2)})
      EXPECT_NEAR((frame.to(torch::kFloat64) - black).abs().max().item<double>(), 0.0, 1e-6);
  }
  // Padded stats are the unpadded ones scaled by the 28x28 / 32x32 area ratio (mean); the
  // known Fashion-MNIST pixel mean is 0.2860.
  EXPECT_NEAR(s.train.mean[0] * 1024.0 / 784.0, 0.2860, 5e-4);
  EXPECT_NEAR(s.train.images.mean().item<double>(), 0.0, 1e-3);
}
