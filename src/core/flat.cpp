#include "core/flat.h"

#include <torch/torch.h>

#include "core/error.h"

namespace closerlook {

int64_t total_numel(const std::vector<torch::Tensor>& ts) {
  int64_t n = 0;
  for (const auto& t : ts) n += t.numel();
  return n;
}

torch::Tensor flatten_tensors(const std::vector<torch::Tensor>& ts, torch::ScalarType dtype) {
  if (ts.empty()) return torch::empty({0}, torch::TensorOptions().dtype(dtype));
  std::vector<torch::Tensor> parts;
  parts.reserve(ts.size());
  for (const auto& t : ts) parts.push_back(t.detach().reshape({-1}).to(dtype));
  return torch::cat(parts);
}

void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& ts) {
  const int64_t n = total_numel(ts);
  if (flat.dim() != 1 || flat.numel() != n)
    throw_bad_input("flat vector has " + std::to_string(flat.numel()) + " entries, the network has " +
                    std::to_string(n) + " (different architecture?)");
  torch::NoGradGuard ng;
  int64_t off = 0;
  for (const auto& t : ts) {
    const int64_t k = t.numel();
    t.copy_(flat.narrow(0, off, k).view(t.sizes()).to(t.options()));
    off += k;
  }
}

}  // namespace closerlook
