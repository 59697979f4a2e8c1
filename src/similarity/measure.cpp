#include "similarity/measure.h"

#include <cmath>

#include "core/error.h"

namespace closerlook {

std::string measure_name(Measure m) {
  switch (m) {
    case Measure::Cca: return "cca";
    case Measure::Svcca: return "svcca";
    case Measure::Pwcca: return "pwcca";
    case Measure::CkaLinear: return "cka-linear";
    case Measure::CkaRbf: return "cka-rbf";
    case Measure::CkaDebiased: return "cka-debiased";
    case Measure::DftCca: return "dft-cca";
  }
  return "?";
}

const std::vector<Measure>& all_measures() {
  static const std::vector<Measure> all = {Measure::Cca,       Measure::Svcca,  Measure::Pwcca,
                                           Measure::CkaLinear, Measure::CkaRbf, Measure::CkaDebiased};
  return all;
}

Measure parse_measure(const std::string& name) {
  for (Measure m : all_measures())
    if (measure_name(m) == name) return m;
  if (name == measure_name(Measure::DftCca)) return Measure::DftCca;
  throw_bad_input("unknown similarity measure '" + name +
                  "' (expected cca, svcca, pwcca, cka-linear, cka-rbf, cka-debiased or dft-cca)");
}

bool is_cca_family(Measure m) { return m == Measure::Cca || m == Measure::Svcca || m == Measure::Pwcca; }

std::string compat_name(Compat c) { return c == Compat::Google ? "google" : "clean"; }

Compat parse_compat(const std::string& name) {
  if (name == "clean") return Compat::Clean;
  if (name == "google") return Compat::Google;
  throw_bad_input("unknown compatibility mode '" + name + "' (expected clean or google)");
}

std::string precision_name(Precision p) { return p == Precision::Float32 ? "float32" : "float64"; }

Precision parse_precision(const std::string& name) {
  if (name == "float64") return Precision::Float64;
  if (name == "float32") return Precision::Float32;
  throw_bad_input("unknown precision '" + name + "' (expected float64 or float32)");
}

void validate_options(const SimilarityOptions& o) {
  auto bad = [](const std::string& what) { throw_bad_input("similarity option " + what); };
  if (!(o.rank_rtol >= 0.0 && o.rank_rtol < 1.0)) bad("rank_rtol must be in [0, 1), got " + std::to_string(o.rank_rtol));
  if (!(o.svcca_variance > 0.0 && o.svcca_variance <= 1.0))
    bad("svcca_variance must be in (0, 1], got " + std::to_string(o.svcca_variance));
  if (o.svcca_dims < 0) bad("svcca_dims must be >= 0, got " + std::to_string(o.svcca_dims));
  if (!(o.rbf_threshold > 0.0 && std::isfinite(o.rbf_threshold)))
    bad("rbf_threshold must be > 0, got " + std::to_string(o.rbf_threshold));
  if (o.max_gram_examples < 4) bad("max_gram_examples must be >= 4, got " + std::to_string(o.max_gram_examples));
  if (o.stream_batch < 1) bad("stream_batch must be >= 1, got " + std::to_string(o.stream_batch));
  if (!(o.google_epsilon >= 0.0 && std::isfinite(o.google_epsilon)))
    bad("google_epsilon must be >= 0, got " + std::to_string(o.google_epsilon));
  // sum_threshold with t = 0 returns index 0 and google's mean becomes the mean of nothing (NaN).
  if (!(o.google_threshold > 0.0 && o.google_threshold <= 1.0))
    bad("google_threshold must be in (0, 1], got " + std::to_string(o.google_threshold));
}

nlohmann::json SimilarityResult::to_json() const {
  nlohmann::json j;
  j["measure"] = measure_name(measure);
  j["compat"] = compat_name(compat);
  j["value"] = value;
  j["n"] = n;
  j["p"] = p;
  j["q"] = q;
  if (is_cca_family(measure)) {
    j["coefficients"] = coefficients;
    j["mean_rho"] = mean_rho;
    j["mean_rho2"] = mean_rho2;
    j["dims_x"] = dims_x;
    j["dims_y"] = dims_y;
  }
  if (measure == Measure::Pwcca) {
    j["weights"] = weights;
    j["weighted_side"] = weighted_side;
  }
  if (!details.empty()) j["details"] = details;
  j["warnings"] = warnings;
  return j;
}

}  // namespace closerlook
