// Mixed precision by autocast: `precision = "bf16"` runs the forward pass with matrix products
// and convolutions in bfloat16 (LibTorch's autocast op lists: the same as torch.autocast in
// Python), while the weights, their gradients, the optimizer state and the loss stay float32.
// bfloat16 has float32's exponent range, so no loss scaling is needed (unlike float16).
// The backward runs outside the scope: each op's backward uses the dtypes its forward chose.
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>

namespace closerlook {

// "float32" -> nullopt (no autocast); "bf16" -> kBFloat16. Other names: Error(BadInput) naming `what`.
std::optional<torch::ScalarType> autocast_dtype(const std::string& precision, const std::string& what);

// Autocast on `device`'s type for the scope's lifetime when `dtype` is set (a no-op otherwise);
// restores the previous state and clears the cast cache as Python's torch.autocast does.
class AutocastScope {
 public:
  AutocastScope(torch::Device device, std::optional<torch::ScalarType> dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType type_ = c10::DeviceType::CPU;
  bool prev_enabled_ = false;
  torch::ScalarType prev_dtype_ = torch::kFloat32;
};

}  // namespace closerlook
