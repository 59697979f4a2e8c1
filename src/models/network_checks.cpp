#include "models/network_checks.h"

#include <sstream>

#include "core/error.h"

namespace closerlook {

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

std::string join_names(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void check_input_batch(const std::string& arch, const torch::Tensor& x, const std::vector<int64_t>& input_shape,
                       bool accepts_flat) {
  const auto& in = input_shape;
  bool ok = x.defined() && x.dim() == 4 && x.size(1) == in[0] && x.size(2) == in[1] && x.size(3) == in[2];
  if (!ok && accepts_flat && x.defined() && x.dim() == 2) ok = x.size(1) == in[0] * in[1] * in[2];
  if (!ok)
    throw_bad_input("network '" + arch + "': input batch of shape " +
                    (x.defined() ? shape_str(x.sizes()) : std::string("(undefined)")) + ", expected [N, " +
                    std::to_string(in[0]) + ", " + std::to_string(in[1]) + ", " + std::to_string(in[2]) + "]");
}

void check_same_layout(const std::string& path, const std::string& kind, const std::string& name,
                       const torch::Tensor& src, const torch::Tensor& dst, const std::string& suffix) {
  if (src.sizes() != dst.sizes())
    throw_bad_input(path + ": " + kind + " '" + name + "' has shape " + shape_str(src.sizes()) +
                    ", the network expects " + shape_str(dst.sizes()) + suffix);
  if (src.scalar_type() != dst.scalar_type())
    throw_bad_input(path + ": " + kind + " '" + name + "' has dtype " + c10::toString(src.scalar_type()) +
                    ", the network expects " + c10::toString(dst.scalar_type()) + suffix);
}

}  // namespace closerlook
