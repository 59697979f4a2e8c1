// load_data for the synthetic dataset, read_data_spec, augment_for, label_histogram.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "data/load.h"
#include "data/synthetic.h"

using namespace closerlook;

TEST(Synthetic, DeterministicFromSeedAndSplitsDiffer) {
  DataSpec spec;
  spec.dataset = "synthetic";
  spec.synthetic_train = 64;
  spec.synthetic_test = 32;
  spec.synthetic_channels = 3;
  spec.synthetic_size = 16;
  spec.synthetic_classes = 4;
  DataSplit a = load_data(spec), b = load_data(spec);
  EXPECT_TRUE(torch::equal(a.train.images, b.train.images));
  EXPECT_TRUE(torch::equal(a.test.labels, b.test.labels));
  EXPECT_EQ(a.train.images.sizes(), (std::vector<int64_t>{64, 3, 16, 16}));
  EXPECT_EQ(a.test.size(), 32);
  EXPECT_EQ(a.train.num_classes, 4);
  EXPECT_FALSE(torch::equal(a.train.images.narrow(0, 0, 32), a.test.images));
  spec.synthetic_seed = 1;
  DataSplit c = load_data(spec);
  EXPECT_FALSE(torch::equal(a.train.images, c.train.images));
  // Normalised with the training set's own statistics: per-channel mean 0, std 1.
  auto m = a.train.images.to(torch::kFloat64).mean({0, 2, 3});
  auto s = a.train.images.to(torch::kFloat64).std({0, 2, 3}, false);
  EXPECT_TRUE(torch::allclose(m, torch::zeros_like(m), 0, 1e-5));
  EXPECT_TRUE(torch::allclose(s, torch::ones_like(s), 0, 1e-5));
  EXPECT_EQ(a.train.mean.size(), 3u);
}

TEST(Synthetic, ClassesAreSeparableByNearestPattern) {
  // Learnability oracle: classifying each example by its nearest noise-free class pattern
  // is far above chance (a CNN can only do better).
  RawImages r = make_synthetic(200, 1, 16, 10, 3, 0);
  std::vector<torch::Tensor> pats;
  for (int64_t k = 0; k < 10; ++k) pats.push_back(synthetic_pattern(k, 1, 16, 10).flatten());
  auto P = torch::stack(pats);                                   // (K, D)
  auto X = r.images.flatten(1);                                  // (N, D)
  auto d = torch::cdist(X, P);                                   // (N, K)
  double acc = (d.argmin(1) == r.labels).to(torch::kFloat64).mean().item<double>();
  EXPECT_GT(acc, 0.9);
}

TEST(Subsets, FirstNAreDeterministic) {
  DataSpec spec;
  spec.dataset = "synthetic";
  spec.synthetic_train = 50;
  spec.synthetic_test = 20;
  DataSplit full = load_data(spec);
  spec.train_subset = 10;
  spec.test_subset = 5;
  DataSplit sub = load_data(spec), sub2 = load_data(spec);
  EXPECT_TRUE(torch::equal(sub.train.images, full.train.images.narrow(0, 0, 10)));
  EXPECT_TRUE(torch::equal(sub.test.labels, full.test.labels.narrow(0, 0, 5)));
  EXPECT_TRUE(torch::equal(sub.train.images, sub2.train.images));
}

TEST(DataSpecConfig, ReadsKeysDefaultsAndRejectsUnknown) {
  json root = parse_toml_string(
      "[data]\ndataset = \"synthetic\"\ntrain_subset = 100\naugment = false\nsynthetic_classes = 3\n"
      "synthetic_seed = 9\ncrop_pad = 2\n",
      "t.toml");
  ConfigReader r(root, "t.toml");
  ConfigReader d = r.section("data");
  DataSpec s = read_data_spec(d);
  EXPECT_EQ(s.dataset, "synthetic");
  EXPECT_EQ(s.train_subset, 100);
  EXPECT_FALSE(s.augment);
  EXPECT_TRUE(s.flip);
  EXPECT_EQ(s.synthetic_classes, 3);
  EXPECT_EQ(s.synthetic_seed, 9u);
  EXPECT_EQ(s.crop_pad, 2);
  EXPECT_EQ(s.pad_to, 32);
  AugmentSpec a = augment_for(s);
  EXPECT_FALSE(a.any());

  json digits = parse_toml_string("[data]\ndataset = \"mnist\"\n", "m.toml");
  ConfigReader rm(digits, "m.toml");
  ConfigReader dm = rm.section("data");
  DataSpec m = read_data_spec(dm);
  EXPECT_FALSE(m.flip);  // mirrored digits are not digits
  AugmentSpec am = augment_for(m);
  EXPECT_TRUE(am.crop);
  EXPECT_FALSE(am.flip);
  EXPECT_EQ(am.pad, 4);

  for (const char* bad : {"[data]\ndatset = \"mnist\"\n", "[data]\ndataset = \"imagenet\"\n",
                          "[data]\ntrain_subset = -1\n"}) {
    json j = parse_toml_string(bad, "bad.toml");
    ConfigReader rb(j, "bad.toml");
    ConfigReader db = rb.section("data");
    try {
      read_data_spec(db);
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad.toml"), std::string::npos) << e.what();
    }
  }
}

TEST(LabelHistogram, CountsEveryClass) {
  Dataset ds;
  ds.images = torch::zeros({6, 1, 2, 2});
  ds.labels = torch::tensor({0, 2, 2, 3, 0, 2}, torch::kInt64);
  ds.num_classes = 5;
  EXPECT_EQ(label_histogram(ds), (std::vector<int64_t>{2, 0, 3, 1, 0}));
}
