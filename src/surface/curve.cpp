#include "surface/curve.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"

namespace closerlook {

Curve::Curve(CurveType type, torch::Tensor bends, std::vector<bool> fixed, ParameterLayout layout)
    : type_(type), bends_(std::move(bends)), fixed_(std::move(fixed)), layout_(std::move(layout)) {
  CL_CHECK_INPUT(bends_.dim() == 2 && bends_.size(0) >= 2, "a curve needs a (B, P) bend matrix with B >= 2");
  CL_CHECK_INPUT(static_cast<int64_t>(fixed_.size()) == bends_.size(0), "curve: one fixed flag per bend expected");
  if (!layout_.names.empty())
    CL_CHECK_INPUT(layout_.total() == bends_.size(1), "curve: bends have " + std::to_string(bends_.size(1)) +
                                                          " entries, the parameter layout " +
                                                          std::to_string(layout_.total()));
}

Curve Curve::on_line(CurveType type, int bends, const torch::Tensor& start, const torch::Tensor& end,
                     ParameterLayout layout, bool fix_start, bool fix_end) {
  CL_CHECK_INPUT(bends >= 2, "a curve needs at least 2 bends, got " + std::to_string(bends));
  CL_CHECK_INPUT(start.dim() == 1 && start.sizes().equals(end.sizes()),
                 "curve endpoints must be flat vectors of equal size (" + std::to_string(start.numel()) + " vs " +
                     std::to_string(end.numel()) + ")");
  auto m = torch::empty({bends, start.numel()}, start.options());
  auto e = end.to(start.options());
  torch::NoGradGuard ng;
  for (int j = 0; j < bends; ++j) {
    const double a = double(j) / double(bends - 1);
    if (j == 0)
      m[j].copy_(start);
    else if (j == bends - 1)
      m[j].copy_(e);
    else
      m[j].copy_(start * (1 - a) + e * a);
  }
  std::vector<bool> fixed(static_cast<size_t>(bends), false);
  fixed.front() = fix_start;
  fixed.back() = fix_end;
  return Curve(type, m, fixed, std::move(layout));
}

torch::Tensor Curve::point_from_coefficients(const std::vector<double>& c) const {
  CL_CHECK_INPUT(static_cast<int64_t>(c.size()) == bends_.size(0), "curve: wrong number of coefficients");
  torch::NoGradGuard ng;
  // Accumulate only the non-zero terms: exact endpoints (1 * theta_0) and cheap PolyChain points.
  torch::Tensor w;
  for (size_t j = 0; j < c.size(); ++j) {
    if (c[j] == 0.0) continue;
    if (!w.defined())
      w = bends_[j] * c[j];
    else
      w.add_(bends_[j], c[j]);
  }
  if (!w.defined()) w = torch::zeros({bends_.size(1)}, bends_.options());
  return w;
}

torch::Tensor Curve::point(double t) const { return point_from_coefficients(coefficients(t)); }

void Curve::apply(double t, Network& net) const { load_flat_parameters(net, point(t)); }

nlohmann::json Curve::meta_json() const {
  nlohmann::json params = nlohmann::json::array();
  for (size_t i = 0; i < layout_.names.size(); ++i)
    params.push_back({{"name", layout_.names[i]}, {"shape", layout_.shapes[i]}});
  return {{"type", curve_type_name(type_)},
          {"bends", num_bends()},
          {"fixed", fixed_},
          {"num_parameters", num_parameters()},
          {"parameters", params},
          {"bends_file", "bends.npy"}};
}

void Curve::save(const std::string& dir) const {
  make_dirs(dir);
  write_npy(dir + "/bends.npy", bends_.detach().to(torch::kFloat32).cpu());
  write_json(dir + "/curve.json", meta_json());
}

Curve Curve::load(const std::string& dir, torch::Device device) {
  const std::string jpath = dir + "/curve.json", npath = dir + "/bends.npy";
  if (!file_exists(jpath)) throw_bad_input(dir + ": not a curve folder (no curve.json)");
  auto j = read_json(jpath);
  CurveType type;
  std::vector<bool> fixed;
  ParameterLayout layout;
  try {
    type = parse_curve_type(j.at("type").get<std::string>());
    fixed = j.at("fixed").get<std::vector<bool>>();
    for (const auto& p : j.at("parameters")) {
      layout.names.push_back(p.at("name").get<std::string>());
      layout.shapes.push_back(p.at("shape").get<std::vector<int64_t>>());
    }
  } catch (const nlohmann::json::exception& e) {
    throw_bad_input(jpath + ": bad curve description (" + e.what() + ")");
  }
  auto bends = read_npy(npath);
  CL_CHECK_INPUT(bends.dim() == 2 && bends.size(0) == static_cast<int64_t>(fixed.size()),
                 npath + ": expected a (" + std::to_string(fixed.size()) + ", P) matrix");
  return Curve(type, bends.to(torch::kFloat32).to(device), fixed, layout);
}

}  // namespace closerlook
