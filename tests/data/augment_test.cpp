// apply_augment: crop/flip geometry, pad values and identities.
#include <gtest/gtest.h>

#include "data/augment.h"

using namespace closerlook;

namespace {
torch::Tensor sample() {
  torch::manual_seed(3);
  return torch::randn({4, 2, 5, 7});
}
const std::vector<double> kFill = {-1.5, 2.25};
}  // namespace

TEST(Augment, NormalisedBlackIsMinusMeanOverStd) {
  auto f = normalised_black({0.5, 0.2}, {0.25, 0.4}, 2);
  EXPECT_DOUBLE_EQ(f[0], -2.0);
  EXPECT_DOUBLE_EQ(f[1], -0.5);
  EXPECT_EQ(normalised_black({}, {}, 3), std::vector<double>(3, 0.0));
}

TEST(Augment, PadZeroCropIsIdentity) {
  auto x = sample();
  EXPECT_TRUE(torch::equal(apply_augment(x, std::vector<ExampleAugment>(4), 0, kFill), x));
  // Centre crop of a padded image is also the identity.
  std::vector<ExampleAugment> centre(4, ExampleAugment{3, 3, false});
  EXPECT_TRUE(torch::equal(apply_augment(x, centre, 3, kFill), x));
}

TEST(Augment, FlipMirrorsColumnsAndIsAnInvolution) {
  auto x = sample();
  std::vector<ExampleAugment> flip(4, ExampleAugment{0, 0, true});
  auto y = apply_augment(x, flip, 0, kFill);
  for (int64_t col = 0; col < 7; ++col)
    EXPECT_TRUE(torch::equal(y.select(3, col), x.select(3, 6 - col))) << col;
  EXPECT_TRUE(torch::equal(apply_augment(y, flip, 0, kFill), x));
}

TEST(Augment, CropShiftsContentAndFillsWithNormalisedBlack) {
  auto x = sample();
  const int64_t pad = 2;
  // dy = dx = 0: the window starts in the padding, so content moves down/right by `pad`.
  std::vector<ExampleAugment> ops = {{0, 0, false}, {4, 4, false}, {0, 4, false}, {1, 3, true}};
  auto y = apply_augment(x, ops, pad, kFill);
  EXPECT_EQ(y.sizes(), x.sizes());
  for (int64_t c = 0; c < 2; ++c) {
    auto top_left = y[0][c];
    EXPECT_TRUE(torch::all(top_left.narrow(0, 0, pad) == float(kFill[c])).item<bool>());
    EXPECT_TRUE(torch::all(top_left.narrow(1, 0, pad) == float(kFill[c])).item<bool>());
    EXPECT_TRUE(torch::equal(top_left.narrow(0, pad, 5 - pad).narrow(1, pad, 7 - pad),
                             x[0][c].narrow(0, 0, 5 - pad).narrow(1, 0, 7 - pad)));
    // dy = dx = 2*pad: content moves up/left, padding at the bottom/right.
    auto br = y[1][c];
    EXPECT_TRUE(torch::all(br.narrow(0, 5 - pad, pad) == float(kFill[c])).item<bool>());
    EXPECT_TRUE(torch::all(br.narrow(1, 7 - pad, pad) == float(kFill[c])).item<bool>());
    EXPECT_TRUE(torch::equal(br.narrow(0, 0, 5 - pad).narrow(1, 0, 7 - pad),
                             x[1][c].narrow(0, pad, 5 - pad).narrow(1, pad, 7 - pad)));
  }
  // Crop then flip: flipping the result back gives the un-flipped crop.
  auto unflipped = apply_augment(x.narrow(0, 3, 1), {{1, 3, false}}, pad, kFill);
  EXPECT_TRUE(torch::equal(y[3].flip({2}), unflipped[0]));
}

TEST(Augment, RejectsOffsetsOutsideThePadding) {
  auto x = sample();
  std::vector<ExampleAugment> bad(4, ExampleAugment{5, 0, false});
  EXPECT_THROW(apply_augment(x, bad, 2, kFill), std::exception);
}

TEST(Augment, FloatFastPathMatchesTheGenericTensorPath) {
  // float32 on CPU takes the direct pixel loop; float64 takes the padded-buffer tensor path.
  torch::manual_seed(8);
  auto x = torch::randn({6, 2, 9, 9}).transpose(2, 3);  // non-contiguous input too
  std::vector<ExampleAugment> ops = {{0, 0, true}, {6, 6, false}, {3, 1, true}, {2, 5, false}, {6, 0, true}, {3, 3, false}};
  auto fast = apply_augment(x, ops, 3, kFill);
  auto slow = apply_augment(x.to(torch::kFloat64), ops, 3, kFill).to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(fast, slow));
}

TEST(Augment, GatherAugmentEqualsIndexSelectThenAugment) {
  torch::manual_seed(9);
  auto images = torch::randn({10, 2, 6, 5});
  auto idx = torch::tensor({7, 2, 2, 9}, torch::kInt64);
  std::vector<ExampleAugment> ops = {{0, 4, true}, {2, 2, false}, {4, 0, true}, {1, 3, false}};
  auto want = apply_augment(images.index_select(0, idx), ops, 2, kFill);
  EXPECT_TRUE(torch::equal(gather_augment(images, idx, ops, 2, kFill), want));
  EXPECT_TRUE(torch::equal(gather_augment(images.to(torch::kFloat64), idx, ops, 2, kFill).to(torch::kFloat32), want));
}
