// The paper's initialisation, applied to every module of a tree in registration order
// (torch::nn::Module::modules(), i.e. the order of named_parameters()):
//   Conv2d    weight ~ N(0, sqrt(2 / (k_h * k_w * out_channels))) * init_scale   (Kaiming normal, fan-out)
//   Linear    weight ~ N(0, 0.01) * init_scale
//   conv/linear bias = 0;  BatchNorm gamma = 1, beta = 0, running stats reset.
// Random numbers come from the current default generator, so with torch::manual_seed(s) first the
// weights equal those of the same loop in Python (`for m in model.modules(): nn.init.normal_`).
#pragma once
#include <torch/torch.h>

namespace closerlook {

void init_weights(torch::nn::Module& module, double init_scale);

}  // namespace closerlook
