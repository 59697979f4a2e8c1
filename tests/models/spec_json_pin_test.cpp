// model_spec JSON pinned to its exact text: every run's config.json stores it and every config
// hash is computed over it, so a change of the ModelSpec struct or of its JSON declaration must
// not change a byte (strings captured from the hand-written model_spec_to_json before the
// VggOptions/ResNetOptions/MlpOptions mirrors were removed).
#include <gtest/gtest.h>

#include "core/error.h"
#include "models/factory.h"

namespace closerlook {
namespace {

ModelSpec non_default_vgg() {
  ModelSpec s;
  s.layout = "vgg16";
  s.width = 0.375;
  s.batchnorm = false;
  s.fc_hidden = {256, 128};
  s.dropout = 0.25;
  s.init_scale = 2.5;
  s.linear_init = "kaiming";
  s.mlp_hidden = {64};
  s.in_channels = 3;
  s.image_size = 28;
  s.num_classes = 100;
  return s;
}

ModelSpec mlp() {
  ModelSpec s;
  s.family = "mlp";
  s.layout = "mlp";
  s.batchnorm = false;
  s.mlp_hidden = {32, 16, 8};
  s.fc_hidden = {};
  s.image_size = 8;
  return s;
}

ModelSpec torchscript() {
  ModelSpec s;
  s.family = "torchscript";
  s.layout = "torchscript";
  s.path = "/models/net.pt";
  s.probes = {"features.3", "logits"};
  s.num_classes = 4;
  s.image_size = 12;
  return s;
}

// The exact dump() of each spec, captured from the code before the change.
const char* const kDefault =
    R"({"batchnorm":true,"dropout":0.0,"family":"vgg","fc_hidden":[512,512],"image_size":32,"in_channels":1,"init_scale":1.0,"layout":"vgg11","mlp_hidden":[512,256],"num_classes":10,"width":1.0})";
const char* const kNonDefaultVgg =
    R"({"batchnorm":false,"dropout":0.25,"family":"vgg","fc_hidden":[256,128],"image_size":28,"in_channels":3,"init_scale":2.5,"layout":"vgg16","linear_init":"kaiming","mlp_hidden":[64],"num_classes":100,"width":0.375})";
const char* const kMlp =
    R"({"batchnorm":false,"dropout":0.0,"family":"mlp","fc_hidden":[],"image_size":8,"in_channels":1,"init_scale":1.0,"layout":"mlp","mlp_hidden":[32,16,8],"num_classes":10,"width":1.0})";
const char* const kTorchscript =
    R"({"batchnorm":true,"dropout":0.0,"family":"torchscript","fc_hidden":[512,512],"image_size":12,"in_channels":1,"init_scale":1.0,"layout":"torchscript","mlp_hidden":[512,256],"num_classes":4,"path":"/models/net.pt","probes":["features.3","logits"],"width":1.0})";

TEST(ModelSpecJsonPin, DumpIsUnchanged) {
  EXPECT_EQ(model_spec_to_json(ModelSpec{}).dump(), kDefault);
  EXPECT_EQ(model_spec_to_json(non_default_vgg()).dump(), kNonDefaultVgg);
  EXPECT_EQ(model_spec_to_json(mlp()).dump(), kMlp);
  EXPECT_EQ(model_spec_to_json(torchscript()).dump(), kTorchscript);
}

// The pinned text reads back into the spec it came from (old config.json files still load).
TEST(ModelSpecJsonPin, PinnedTextReadsBack) {
  for (const auto& [text, spec] : {std::pair{kDefault, ModelSpec{}}, std::pair{kNonDefaultVgg, non_default_vgg()},
                                   std::pair{kMlp, mlp()}}) {
    const ModelSpec back = model_spec_from_json(nlohmann::json::parse(text));
    EXPECT_EQ(model_spec_to_json(back).dump(), text);
    EXPECT_EQ(model_arch(back), model_arch(spec));
    EXPECT_EQ(back.linear_init, spec.linear_init);
    EXPECT_EQ(back.init_scale, spec.init_scale);
  }
  // torchscript: validated without opening the file; path and probes come back.
  const ModelSpec ts = model_spec_from_json(nlohmann::json::parse(kTorchscript));
  EXPECT_EQ(ts.path, "/models/net.pt");
  EXPECT_EQ(ts.probes, (std::vector<std::string>{"features.3", "logits"}));
  EXPECT_EQ(model_spec_to_json(ts).dump(), kTorchscript);
}

}  // namespace
}  // namespace closerlook
