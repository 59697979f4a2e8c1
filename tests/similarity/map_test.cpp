// Similarity maps and streamed CKA: cached/streamed values equal independent pairwise calls.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "similarity/similarity.h"
#include "similarity/similarity_map.h"
#include "similarity/streaming_cka.h"

using namespace closerlook;

namespace {

// Layers of one "model": widths vary, layer k+1 depends on layer k so maps have structure.
std::vector<NamedTensor> model_layers(int64_t n, const std::vector<int64_t>& widths, uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<NamedTensor> out;
  auto h = torch::randn({n, widths[0]}, torch::kFloat64);
  out.emplace_back("layer0", h);
  for (size_t i = 1; i < widths.size(); ++i) {
    h = torch::relu(h.mm(torch::randn({h.size(1), widths[i]}, torch::kFloat64))) +
        0.3 * torch::randn({n, widths[i]}, torch::kFloat64);
    out.emplace_back("layer" + std::to_string(i), h);
  }
  return out;
}

std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("cl_sim_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

}  // namespace

TEST(SimilarityMap, CachedLayerByLayerEqualsPairwiseCalls) {
  auto a = model_layers(150, {6, 5, 4}, 1);
  auto b = model_layers(150, {5, 7}, 2);
  SimilarityOptions o;
  o.stream_batch = 37;  // ragged last batch on purpose
  o.svcca_variance = 0.95;
  auto maps = layer_by_layer(a, b, all_measures(), o);
  ASSERT_EQ(maps.size(), all_measures().size());
  for (const auto& m : maps) {
    ASSERT_EQ(m.values.size(0), 3);
    ASSERT_EQ(m.values.size(1), 2);
    EXPECT_EQ(m.row_names[2], "layer2");
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t c = 0; c < 2; ++c) {
        const double direct = similarity(a[r].second, b[c].second, m.measure, o).value;
        EXPECT_NEAR(m.at(r, c), direct, 1e-10) << measure_name(m.measure) << " " << r << "," << c;
      }
  }
}

TEST(SimilarityMap, SameSetIsSymmetricWithUnitDiagonal) {
  auto a = model_layers(120, {6, 6, 5}, 3);
  for (Measure m : {Measure::Cca, Measure::Svcca, Measure::CkaLinear, Measure::CkaDebiased}) {
    auto map = layer_by_layer(a, a, m);
    for (int64_t i = 0; i < 3; ++i) {
      EXPECT_NEAR(map.at(i, i), 1.0, 1e-10) << measure_name(m);
      for (int64_t j = 0; j < 3; ++j) EXPECT_DOUBLE_EQ(map.at(i, j), map.at(j, i));
    }
  }
  // PWCCA is asymmetric: the mirrored cells are computed, not copied.
  auto pw = layer_by_layer(a, a, Measure::Pwcca);
  EXPECT_NEAR(pw.at(0, 2), similarity(a[0].second, a[2].second, Measure::Pwcca).value, 1e-12);
  EXPECT_NEAR(pw.at(2, 0), similarity(a[2].second, a[0].second, Measure::Pwcca).value, 1e-12);
}

TEST(SimilarityMap, LayerByCheckpointNextAndFixed) {
  std::vector<CheckpointActivations> cks;
  for (int c = 0; c < 4; ++c) cks.push_back({"ck" + std::to_string(c), model_layers(100, {5, 4}, 10 + c)});
  auto next = layer_by_checkpoint(cks, {Measure::CkaLinear}, parse_checkpoint_reference("next")).front();
  ASSERT_EQ(next.values.size(0), 2);
  ASSERT_EQ(next.values.size(1), 3);
  EXPECT_EQ(next.col_names[1], "ck1->ck2");
  EXPECT_NEAR(next.at(1, 2), similarity(cks[2].layers[1].second, cks[3].layers[1].second, Measure::CkaLinear).value,
              1e-10);
  auto last = layer_by_checkpoint(cks, {Measure::Cca}, parse_checkpoint_reference("last")).front();
  ASSERT_EQ(last.values.size(1), 4);
  EXPECT_NEAR(last.at(0, 3), 1.0, 1e-10);
  EXPECT_NEAR(last.at(0, 1), similarity(cks[1].layers[0].second, cks[3].layers[0].second, Measure::Cca).value, 1e-12);
  EXPECT_EQ(last.settings["reference"], "ck3");
  EXPECT_THROW(parse_checkpoint_reference("final-ish"), Error);
  EXPECT_THROW(layer_by_checkpoint(cks, {Measure::Cca}, parse_checkpoint_reference("7")), Error);
  cks[2].layers[1].first = "renamed";
  EXPECT_THROW(layer_by_checkpoint(cks, {Measure::Cca}, parse_checkpoint_reference("next")), Error);
}

TEST(SimilarityMap, ErrorsNameTheLayer) {
  auto a = model_layers(50, {4, 3}, 4);
  auto b = model_layers(50, {3}, 5);
  b[0].second = b[0].second.clone();
  b[0].second[7][1] = std::nan("");
  try {
    layer_by_layer(a, b, Measure::CkaLinear);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("b/layer0"), std::string::npos) << e.what();
  }
  auto short_b = model_layers(40, {3}, 6);
  EXPECT_THROW(layer_by_layer(a, short_b, Measure::Cca), Error);
}

TEST(SimilarityMap, WritesNpyCsvJsonThatRoundTrip) {
  auto a = model_layers(60, {4, 3}, 7);
  auto map = layer_by_layer(a, a, Measure::CkaLinear);
  const auto dir = temp_dir("map");
  write_similarity_map(map, dir + "/cka-linear");
  auto npy = read_npy(dir + "/cka-linear.npy");
  EXPECT_TRUE(torch::allclose(npy, map.values, 0, 0));
  auto back = read_similarity_map_json(dir + "/cka-linear.json");
  EXPECT_EQ(back.row_names, map.row_names);
  EXPECT_TRUE(torch::allclose(back.values, map.values, 1e-15, 0));
  std::ifstream csv(dir + "/cka-linear.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_NE(header.find("layer1"), std::string::npos) << header;
  std::filesystem::remove_all(dir);
}

TEST(StreamingCka, EqualsOneShotForAnyBatching) {
  torch::manual_seed(8);
  auto x = torch::randn({203, 6}, torch::kFloat64) * 3.0 + 10.0;  // large means: tests the shift
  auto y = torch::relu(x.mm(torch::randn({6, 4}, torch::kFloat64))) + torch::randn({203, 4}, torch::kFloat64);
  const double lin = similarity(x, y, Measure::CkaLinear).value;
  const double deb = similarity(x, y, Measure::CkaDebiased).value;
  for (int64_t batch : {203, 64, 10, 1}) {
    CkaAccumulator acc({"x", "y"}, {6, 4}, {{0, 1}, {0, 0}});
    for (int64_t s = 0; s < 203; s += batch) acc.add({x.slice(0, s, s + batch), y.slice(0, s, s + batch)});
    EXPECT_EQ(acc.examples(), 203);
    EXPECT_NEAR(acc.linear_cka()[0], lin, 1e-11) << batch;
    EXPECT_NEAR(acc.debiased_cka()[0], deb, 1e-10) << batch;
    EXPECT_DOUBLE_EQ(acc.linear_cka()[1], 1.0);
  }
}

TEST(StreamingCka, Float32BatchesAndBadInput) {
  torch::manual_seed(9);
  auto x = torch::randn({64, 5});
  auto y = x.mm(torch::randn({5, 3})) + torch::randn({64, 3});
  CkaAccumulator acc({"x", "y"}, {5, 3}, {{0, 1}});
  acc.add({x.slice(0, 0, 30), y.slice(0, 0, 30)});
  acc.add({x.slice(0, 30, 64), y.slice(0, 30, 64)});
  EXPECT_NEAR(acc.linear_cka()[0], similarity(x, y, Measure::CkaLinear).value, 1e-10);
  EXPECT_THROW(acc.add({x.slice(0, 0, 4), y.slice(0, 0, 5)}), Error);
  auto bad = y.slice(0, 0, 4).clone();
  bad[0][0] = std::nan("");
  EXPECT_THROW(acc.add({x.slice(0, 0, 4), bad}), Error);
  CkaAccumulator tiny({"x", "y"}, {5, 3}, {{0, 1}});
  tiny.add({x.slice(0, 0, 3), y.slice(0, 0, 3)});
  EXPECT_THROW(tiny.debiased_cka(), Error);
}
