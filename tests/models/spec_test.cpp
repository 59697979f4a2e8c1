// [model] config reading and the JSON round trip.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "model_test_util.h"

namespace closerlook {
namespace {
using namespace closerlook::testing;

ModelSpec read(const std::string& toml) {
  json root = parse_toml_string(toml, "test.toml");
  ConfigReader r(root, "test.toml");
  ConfigReader m = r.section("model");
  ModelSpec s = read_model_spec(m);
  m.finish();
  return s;
}

std::string error_of(const std::string& toml) {
  try {
    read(toml);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << toml;
  return "";
}

TEST(ModelSpecConfig, ReadsEveryKey) {
  auto s = read(
      "[model]\nfamily='vgg'\nlayout='vgg16'\nwidth=0.5\nbatchnorm=false\nfc_hidden=[64]\ndropout=0.5\n"
      "init_scale=2.5\n");
  EXPECT_EQ(s.layout, "vgg16");
  EXPECT_EQ(s.width, 0.5);
  EXPECT_FALSE(s.batchnorm);
  EXPECT_EQ(s.fc_hidden, (std::vector<int64_t>{64}));
  EXPECT_EQ(s.dropout, 0.5);
  EXPECT_EQ(s.init_scale, 2.5);
  EXPECT_EQ(read("[model]\nfamily='resnet'\n").layout, "resnet8");
  EXPECT_EQ(read("[model]\nfamily='mlp'\nmlp_hidden=[10]\n").mlp_hidden, (std::vector<int64_t>{10}));
  EXPECT_EQ(read("").layout, "vgg11");
  EXPECT_EQ(read("").linear_init, "paper");
  EXPECT_EQ(read("[model]\nlinear_init='kaiming'\n").linear_init, "kaiming");
}

TEST(ModelSpecConfig, RejectsBadValuesNamingKey) {
  EXPECT_NE(error_of("[model]\nfamily='resnet'\nlayout='vgg11'\n").find("model.layout"), std::string::npos);
  EXPECT_NE(error_of("[model]\nwidth=0\n").find("model.width"), std::string::npos);
  EXPECT_NE(error_of("[model]\nwidth=17\n").find("model.width"), std::string::npos);
  EXPECT_NE(error_of("[model]\ndropout=1.0\n").find("model.dropout"), std::string::npos);
  EXPECT_NE(error_of("[model]\ninit_scale=0\n").find("model.init_scale"), std::string::npos);
  EXPECT_NE(error_of("[model]\ninit_scale=101\n").find("model.init_scale"), std::string::npos);
  EXPECT_NE(error_of("[model]\nlinear_init='xavier'\n").find("model.linear_init"), std::string::npos);
  EXPECT_NE(error_of("[model]\nfamily='cnn'\n").find("model.family"), std::string::npos);
  EXPECT_NE(error_of("[model]\nfamily='resnet'\ndropout=0.5\n").find("model.dropout"), std::string::npos);
  EXPECT_NE(error_of("[model]\nwidht=0.5\n").find("widht"), std::string::npos);  // typo, via finish()
  EXPECT_NE(error_of("[model]\nin_channels=3\n").find("in_channels"), std::string::npos);
}

TEST(ModelSpecJson, RoundTripAllFields) {
  ModelSpec s = resnet_spec("resnet20", 0.75, false);
  s.fc_hidden = {7, 9};
  s.init_scale = 3.5;
  s.mlp_hidden = {1, 2, 3};
  s.in_channels = 3;
  s.image_size = 28;
  s.num_classes = 100;
  ModelSpec t = model_spec_from_json(model_spec_to_json(s));
  EXPECT_EQ(model_spec_to_json(t), model_spec_to_json(s));
  EXPECT_EQ(t.family, "resnet");
  EXPECT_EQ(t.width, 0.75);
  EXPECT_EQ(t.image_size, 28);
  EXPECT_EQ(model_arch(t), model_arch(s));
  EXPECT_EQ(model_spec_to_json(s).size(), 11u);  // linear_init "paper" is not written (older specs unchanged)
  EXPECT_FALSE(model_spec_to_json(s).contains("linear_init"));
  s.linear_init = "kaiming";
  EXPECT_EQ(model_spec_to_json(s)["linear_init"], "kaiming");
  EXPECT_EQ(model_spec_from_json(model_spec_to_json(s)).linear_init, "kaiming");
  auto j = model_spec_to_json(s);
  j["linear_init"] = "xavier";
  EXPECT_THROW(model_spec_from_json(j), Error);
}

TEST(ModelSpecJson, MissingOrBadFieldIsNamed) {
  auto j = model_spec_to_json(vgg_spec());
  for (const auto& key : {"width", "num_classes", "fc_hidden"}) {
    auto k = j;
    k.erase(key);
    try {
      model_spec_from_json(k);
      FAIL() << key;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  auto k = j;
  k["batchnorm"] = "yes";
  EXPECT_THROW(model_spec_from_json(k), Error);
  k = j;
  k["layout"] = "resnet8";
  EXPECT_THROW(model_spec_from_json(k), Error);
}

}  // namespace
}  // namespace closerlook
