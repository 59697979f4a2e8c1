#include "train/precision.h"

#include <ATen/autocast_mode.h>

#include "core/error.h"

namespace closerlook {

std::optional<torch::ScalarType> autocast_dtype(const std::string& precision, const std::string& what) {
  if (precision == "float32") return std::nullopt;
  if (precision == "bf16") return torch::kBFloat16;
  throw_bad_input(what + ": '" + precision + "' is not a precision (float32 or bf16)");
}

AutocastScope::AutocastScope(torch::Device device, std::optional<torch::ScalarType> dtype) {
  if (!dtype) return;
  type_ = device.type();
  CL_CHECK_INPUT(at::autocast::is_autocast_available(type_),
                 "autocast is not available on device '" + device.str() + "'");
  prev_enabled_ = at::autocast::is_autocast_enabled(type_);
  prev_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::set_autocast_dtype(type_, *dtype);
  at::autocast::increment_nesting();
  active_ = true;
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(type_, prev_enabled_);
  at::autocast::set_autocast_dtype(type_, prev_dtype_);
}

}  // namespace closerlook
