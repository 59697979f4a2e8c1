// Tensors <-> one flat vector. Used for weight-space geometry (distances, interpolation,
// planes), where float64 keeps Gram-Schmidt and projections exact enough.
#pragma once
#include <torch/types.h>

#include <vector>

namespace closerlook {

// Concatenates the tensors (flattened, in order) into one 1-D tensor of `dtype` on `device` of the first.
torch::Tensor flatten_tensors(const std::vector<torch::Tensor>& ts, torch::ScalarType dtype = torch::kFloat64);

// Copies consecutive slices of `flat` into `ts` (in place, under NoGradGuard, casting dtype).
// Throws Error(BadInput) when the total size differs.
void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& ts);

int64_t total_numel(const std::vector<torch::Tensor>& ts);

}  // namespace closerlook
