#include "models/vgg.h"

#include <cmath>

#include "core/error.h"

namespace closerlook {

namespace {
constexpr int64_t M = -1;
}

std::vector<int64_t> vgg_config(const std::string& layout) {
  if (layout == "vgg11") return {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
  if (layout == "vgg13") return {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
  if (layout == "vgg16")
    return {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M};
  if (layout == "vgg19")
    return {64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M};
  throw_bad_input("model.layout: unknown VGG layout '" + layout + "' (expected vgg11, vgg13, vgg16 or vgg19)");
}

VggNet::VggNet(const ModelSpec& spec) {
  namespace nn = torch::nn;
  features = register_module("features", nn::Sequential());
  int64_t channels = spec.in_channels, size = spec.image_size, conv = 0;
  for (int64_t c : vgg_config(spec.layout)) {
    if (c == M) {
      features->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2).stride(2)));
      feature_probe_.push_back("");
      size /= 2;
      CL_CHECK_INPUT(size >= 1, "model: image_size " + std::to_string(spec.image_size) + " is too small for " +
                                    spec.layout + " (each of its max-pools halves it; it must stay >= 1)");
      continue;
    }
    const int64_t out = std::max<int64_t>(1, std::llround(static_cast<double>(c) * spec.width));
    features->push_back(nn::Conv2d(nn::Conv2dOptions(channels, out, 3).padding(1)));
    feature_probe_.push_back("");
    if (spec.batchnorm) {
      features->push_back(nn::BatchNorm2d(out));
      feature_probe_.push_back("");
    }
    features->push_back(nn::ReLU(nn::ReLUOptions(/*inplace=*/true)));
    feature_probe_.push_back("conv" + std::to_string(++conv));
    names_.push_back(feature_probe_.back());
    channels = out;
  }

  classifier = register_module("classifier", nn::Sequential());
  append_fc_head(classifier, classifier_probe_, names_, channels * size * size, spec.fc_hidden, spec.dropout,
                 /*batchnorm=*/false, spec.num_classes);
}

torch::Tensor VggNet::forward_probed(const torch::Tensor& input, ProbeRecorder* rec) {
  const torch::Tensor x = forward_chain(features, feature_probe_, input, rec);
  return forward_chain(classifier, classifier_probe_, x.flatten(1), rec);
}

std::vector<std::string> VggNet::probe_names() const { return names_; }

}  // namespace closerlook
