// Weight vectors: a network's parameters as one flat vector (float32 or float64) for
// weight-space geometry, kept apart from its buffers (BatchNorm running statistics), which are
// not coordinates of the loss surface and are recomputed at every point instead.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "models/network.h"

namespace closerlook {

// Parameters in named_parameters() order, flattened into one 1-D tensor of `dtype`.
torch::Tensor flat_parameters(Network& net, torch::ScalarType dtype = torch::kFloat64);

// Buffers (running_mean, running_var, num_batches_tracked, ...) flattened the same way.
torch::Tensor flat_buffers(Network& net, torch::ScalarType dtype = torch::kFloat64);

// Copies `flat` into the parameters (in place, under NoGradGuard, cast to each parameter's dtype
// and device). Error(BadInput) when the size differs from the network's parameter count.
void load_flat_parameters(Network& net, const torch::Tensor& flat);

int64_t parameter_count(Network& net);

// Throws Error(BadInput) unless both networks have the same arch() and identical parameter
// names and shapes. `what_a`/`what_b` name them in the message (e.g. the checkpoint paths).
void require_same_architecture(Network& a, Network& b, const std::string& what_a, const std::string& what_b);

// Names and shapes of the parameters, in order (stored with curves and planes so a reader can
// split a flat vector back into tensors).
struct ParameterLayout {
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  int64_t total() const;
};
ParameterLayout parameter_layout(Network& net);

}  // namespace closerlook
