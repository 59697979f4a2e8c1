// A mode-connecting curve held generically: B bends, each a flat parameter vector of the
// network (named_parameters() order), stored together as one (B, P) tensor. Any Network can
// be put at a point of the curve by writing w(t) = sum_j c_j(t) theta_j into its parameters, so
// no per-architecture "curve twin" exists. BN running statistics are not part of the curve:
// recalibrate them at each t (bn_recalibration.h).
//
// On disk (a curve folder): curve.json {"type", "bends", "fixed": [..], "parameters":
// [{"name", "shape"}], "num_parameters"} and bends.npy (B x P, float32, row j = theta_j).
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/network.h"
#include "surface/curve_basis.h"
#include "surface/weights.h"

namespace closerlook {

class Curve {
 public:
  Curve() = default;
  Curve(CurveType type, torch::Tensor bends, std::vector<bool> fixed, ParameterLayout layout);

  // B bends placed on the straight line from `start` to `end` (flat vectors):
  // theta_j = (1 - j/(B-1)) start + j/(B-1) end. The curve is then exactly the segment. The
  // bends get the dtype/device of `start`.
  static Curve on_line(CurveType type, int bends, const torch::Tensor& start, const torch::Tensor& end,
                       ParameterLayout layout, bool fix_start = true, bool fix_end = true);

  CurveType type() const { return type_; }
  int num_bends() const { return static_cast<int>(bends_.size(0)); }
  int64_t num_parameters() const { return bends_.size(1); }
  const torch::Tensor& bends() const { return bends_; }
  torch::Tensor& bends() { return bends_; }
  torch::Tensor bend(int j) const { return bends_[j]; }
  const std::vector<bool>& fixed() const { return fixed_; }
  const ParameterLayout& layout() const { return layout_; }

  std::vector<double> coefficients(double t) const { return curve_coefficients(type_, num_bends(), t); }
  // w(t) as a flat vector (dtype of the bends); coefficients given or computed from t.
  torch::Tensor point(double t) const;
  torch::Tensor point_from_coefficients(const std::vector<double>& c) const;
  // Writes w(t) into the network's parameters (Error(BadInput) if the sizes differ).
  void apply(double t, Network& net) const;

  nlohmann::json meta_json() const;
  // Writes <dir>/curve.json and <dir>/bends.npy atomically.
  void save(const std::string& dir) const;
  // Reads them back (bends as float32 on `device`). Error(BadInput) names a missing/bad file.
  static Curve load(const std::string& dir, torch::Device device = torch::kCPU);

 private:
  CurveType type_ = CurveType::Bezier;
  torch::Tensor bends_;  // (B, P)
  std::vector<bool> fixed_;
  ParameterLayout layout_;
};

}  // namespace closerlook
