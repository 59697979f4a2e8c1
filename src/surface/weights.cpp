#include "surface/weights.h"

#include "core/error.h"
#include "core/flat.h"

namespace closerlook {

torch::Tensor flat_parameters(Network& net, torch::ScalarType dtype) {
  return flatten_tensors(net.parameters(), dtype);
}

torch::Tensor flat_buffers(Network& net, torch::ScalarType dtype) {
  std::vector<torch::Tensor> bufs;
  for (auto& b : net.named_buffers()) bufs.push_back(b.second);
  return flatten_tensors(bufs, dtype);
}

void load_flat_parameters(Network& net, const torch::Tensor& flat) { unflatten_into(flat, net.parameters()); }

int64_t parameter_count(Network& net) { return total_numel(net.parameters()); }

int64_t ParameterLayout::total() const {
  int64_t n = 0;
  for (const auto& s : shapes) {
    int64_t k = 1;
    for (auto d : s) k *= d;
    n += k;
  }
  return n;
}

ParameterLayout parameter_layout(Network& net) {
  ParameterLayout l;
  for (auto& [name, t] : net.named_parameters()) {
    l.names.push_back(name);
    l.shapes.push_back(t.sizes().vec());
  }
  return l;
}

void require_same_architecture(Network& a, Network& b, const std::string& what_a, const std::string& what_b) {
  if (a.arch() != b.arch())
    throw_bad_input(what_a + " and " + what_b + " are different architectures: '" + a.arch() + "' vs '" + b.arch() +
                    "'");
  auto pa = a.named_parameters(), pb = b.named_parameters();
  if (pa.size() != pb.size())
    throw_bad_input(what_a + " has " + std::to_string(pa.size()) + " parameter tensors, " + what_b + " has " +
                    std::to_string(pb.size()));
  for (size_t i = 0; i < pa.size(); ++i) {
    if (pa[i].first != pb[i].first || !pa[i].second.sizes().equals(pb[i].second.sizes()))
      throw_bad_input(what_a + " and " + what_b + " differ at parameter " + std::to_string(i) + ": '" + pa[i].first +
                      "' vs '" + pb[i].first + "'");
  }
}

}  // namespace closerlook
