#include "models/resnet.h"

#include <cmath>

#include "core/error.h"

namespace closerlook {

namespace nn = torch::nn;

namespace {
struct Stages {
  std::vector<int64_t> channels, blocks;
};

Stages stages_of(const std::string& layout) {
  if (layout == "resnet8") return {{16, 32, 64}, {1, 1, 1}};
  if (layout == "resnet20") return {{16, 32, 64}, {3, 3, 3}};
  if (layout == "resnet18") return {{64, 128, 256, 512}, {2, 2, 2, 2}};
  throw_bad_input("model.layout: unknown ResNet layout '" + layout + "' (expected resnet8, resnet20 or resnet18)");
}

int64_t scaled(int64_t c, double width) { return std::max<int64_t>(1, std::llround(static_cast<double>(c) * width)); }

nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride, bool bias) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(bias));
}
}  // namespace

BasicBlockImpl::BasicBlockImpl(int64_t in, int64_t out, int64_t stride, bool batchnorm) {
  conv1 = register_module("conv1", conv3x3(in, out, stride, !batchnorm));
  if (batchnorm) bn1 = register_module("bn1", nn::BatchNorm2d(out));
  conv2 = register_module("conv2", conv3x3(out, out, 1, !batchnorm));
  if (batchnorm) bn2 = register_module("bn2", nn::BatchNorm2d(out));
  shortcut = register_module("shortcut", nn::Sequential());
  if (stride != 1 || in != out) {
    shortcut->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(!batchnorm)));
    if (batchnorm) shortcut->push_back(nn::BatchNorm2d(out));
  }
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = conv1->forward(x);
  if (bn1) out = bn1->forward(out);
  out = torch::relu(out);
  out = conv2->forward(out);
  if (bn2) out = bn2->forward(out);
  out = out + (shortcut->is_empty() ? x : shortcut->forward(x));
  return torch::relu(out);
}

ResNet::ResNet(const ModelSpec& spec) {
  const Stages st = stages_of(spec.layout);
  int64_t in = scaled(st.channels[0], spec.width);
  conv1 = register_module("conv1", conv3x3(spec.in_channels, in, 1, !spec.batchnorm));
  if (spec.batchnorm) bn1 = register_module("bn1", nn::BatchNorm2d(in));
  names_.push_back("stem");
  int64_t block = 0;
  for (size_t s = 0; s < st.channels.size(); ++s) {
    const int64_t out = scaled(st.channels[s], spec.width);
    nn::Sequential layer;
    for (int64_t b = 0; b < st.blocks[s]; ++b) {
      layer->push_back(BasicBlock(in, out, (b == 0 && s > 0) ? 2 : 1, spec.batchnorm));
      names_.push_back("block" + std::to_string(++block));
      in = out;
    }
    layers_.push_back(register_module("layer" + std::to_string(s + 1), layer));
  }
  linear = register_module("linear", nn::Linear(in, spec.num_classes));
  names_.push_back("pool");
  names_.push_back("logits");
}

torch::Tensor ResNet::forward_probed(const torch::Tensor& input, ProbeRecorder* rec) {
  torch::Tensor x = conv1->forward(input);
  if (bn1) x = bn1->forward(x);
  x = torch::relu(x);
  probe(rec, "stem", x);
  int64_t block = 0;
  for (auto& layer : layers_) {
    for (auto& m : *layer) {
      x = m.forward(x);
      if (rec) probe(rec, "block" + std::to_string(++block), x);
    }
  }
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  probe(rec, "pool", x);
  x = linear->forward(x);
  probe(rec, "logits", x);
  return x;
}

std::vector<std::string> ResNet::probe_names() const { return names_; }

}  // namespace closerlook
