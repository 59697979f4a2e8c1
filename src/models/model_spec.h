// The one description of a model: the config's [model] table (models/factory.h reads it and
// writes it as each run's "model_spec" JSON) and the options of every built-in module (VggNet,
// ResNet and Mlp take it whole and use their family's fields).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace closerlook {

struct ModelSpec {
  std::string family = "vgg";         // vgg | resnet | mlp | torchscript (a user's model, docs/own_models.md)
  std::string layout = "vgg11";       // vgg11 | vgg13 | vgg16 | vgg19 (cfgs A/B/D/E, vgg); resnet8/resnet20/resnet18 (resnet); mlp (mlp)
  double width = 1.0;                 // channel multiplier, channels = max(1, round(c * width)) (0.25 = the vgg11-w16 benchmark net)
  bool batchnorm = true;              // conv/linear -> BN -> ReLU; a ResNet without BN gives its convs a bias instead
  std::vector<int64_t> fc_hidden = {512, 512};  // vgg: hidden FC widths (paper: 4096, 4096; empty = linear head)
  double dropout = 0.0;               // vgg: a Dropout before each hidden FC layer when > 0 (paper: 0.5)
  double init_scale = 1.0;            // multiplies the init std of every conv/linear weight (mode E)
  // Linear weights: "paper" = N(0, 0.01) (the authors' code), "kaiming" = N(0, sqrt(2 / fan_in))
  // (a narrow FC head trains; with "paper" a [256, 256] head sits at chance for epochs).
  // Not part of arch() and, when "paper", not written into model_spec JSON (specs and hashes
  // from before the option are unchanged).
  std::string linear_init = "paper";
  std::vector<int64_t> mlp_hidden = {512, 256};  // mlp: hidden widths over the flattened image
  // family "torchscript" only: the TorchScript file (absolute path; read_model_spec resolves a
  // relative one against the config file's folder) and the chosen probe points (empty = all
  // the module offers). The file holds both the architecture and the starting weights.
  std::string path;
  std::vector<std::string> probes;
  // Set from the data, not the config:
  int64_t in_channels = 1, image_size = 32, num_classes = 10;
};

}  // namespace closerlook
