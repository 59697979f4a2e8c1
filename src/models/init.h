// The paper's initialisation, applied to every module of a tree in registration order
// (torch::nn::Module::modules(), i.e. the order of named_parameters()):
//   Conv2d    weight ~ N(0, sqrt(2 / (k_h * k_w * out_channels))) * init_scale   (Kaiming normal, fan-out)
//   Linear    weight ~ N(0, 0.01) * init_scale                  (linear_init "paper", the default)
//             weight ~ N(0, sqrt(2 / in_features)) * init_scale  (linear_init "kaiming": Kaiming normal,
//             fan-in, ReLU gain, so a narrow FC stack keeps the signal's scale layer to layer)
//   conv/linear bias = 0;  BatchNorm gamma = 1, beta = 0, running stats reset.
// Random numbers come from the current default generator, so with torch::manual_seed(s) first the
// weights equal those of the same loop in Python (`for m in model.modules(): nn.init.normal_`).
#pragma once
#include <torch/torch.h>

#include <string>

namespace closerlook {

enum class LinearInit { Paper, Kaiming };
LinearInit parse_linear_init(const std::string& s);  // "paper" | "kaiming"; Error(BadInput) otherwise
std::string to_string(LinearInit v);

void init_weights(torch::nn::Module& module, double init_scale, LinearInit linear = LinearInit::Paper);

}  // namespace closerlook
