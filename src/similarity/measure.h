// Representation-similarity measures: names, options and the result record every tool prints.
//
// Conventions (see docs/similarity.md): data-major inputs (rows are examples, columns are
// features/neurons), float64 inside, and every value is a *similarity* (1 = identical up to the
// measure's invariances), never a distance.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace closerlook {

// DftCca: google/svcca's dft_ccas.fourier_ccas on 4-D conv activations [N, C, H, W] (see
// dft_cca.h); every other measure compares 2-D (examples x features) matrices.
enum class Measure { Cca, Svcca, Pwcca, CkaLinear, CkaRbf, CkaDebiased, DftCca };

// "cca", "svcca", "pwcca", "cka-linear", "cka-rbf", "cka-debiased", "dft-cca".
std::string measure_name(Measure m);
// Error(BadInput) naming the value and the accepted names (dft-cca included).
Measure parse_measure(const std::string& name);
// The measures of 2-D (examples x features) matrices, i.e. every measure but DftCca.
const std::vector<Measure>& all_measures();
bool is_cca_family(Measure m);
// Needs 4-D [N, C, H, W] activations (DftCca), not 2-D matrices.
inline bool is_spatial(Measure m) { return m == Measure::DftCca; }
// PWCCA weighs by one side's canonical variates, so PWCCA(X,Y) != PWCCA(Y,X).
inline bool is_symmetric(Measure m) { return m != Measure::Pwcca; }

// Clean: QR/SVD-style CCA on centred data with an explicit rank tolerance, variance-based SVCCA.
// Google: the semantics of google/svcca's cca_core.get_cca_similarity / pwcca.compute_pwcca
// (covariance rescaling, epsilon pruning of small-variance neurons, eps*I regularisation,
// pinv + eigh inverse square root, 0.98 sum_threshold mean) so published numbers reproduce.
// Applies to the CCA family only; CKA follows Kornblith et al. in both modes.
enum class Compat { Clean, Google };
std::string compat_name(Compat c);
Compat parse_compat(const std::string& name);

// Arithmetic of the streamed linear/debiased CKA maps: float64 (default) or float32 GEMMs on
// float32 data with every batch's sums accumulated in float64 (about twice as fast; error
// against float64 measured in docs/similarity.md). Every other measure computes in float64.
enum class Precision { Float64, Float32 };
std::string precision_name(Precision p);    // "float64", "float32"
Precision parse_precision(const std::string& name);

struct SimilarityOptions {
  Compat compat = Compat::Clean;
  // CCA family, clean mode: centre the columns first (false reproduces Kornblith's demo
  // `cca` on raw data; only for checking that oracle).
  bool center = true;
  // Singular values <= rank_rtol * largest are treated as zero (rank deficiency). 0 = by the
  // input's dtype: 1e-6 for float32 activations (their rounding noise), 1e-12 for float64.
  double rank_rtol = 0.0;
  // SVCCA: keep the leading directions explaining >= this fraction of the variance
  // (cumsum(s^2)/sum(s^2)), unless svcca_dims > 0 fixes the count.
  double svcca_variance = 0.99;
  int64_t svcca_dims = 0;
  // RBF CKA: sigma^2 = rbf_threshold^2 * median(squared distances over the full n x n matrix,
  // zero diagonal included) -- Kornblith's gram_rbf rule.
  double rbf_threshold = 1.0;
  // Gram (n x n) forms are used only up to this many examples (RBF always needs one).
  int64_t max_gram_examples = 8192;
  // Linear/debiased CKA maps stream over this many rows at a time (memory ~ features^2).
  int64_t stream_batch = 4096;
  // Streamed CKA maps only (see Precision).
  Precision precision = Precision::Float64;
  // Google mode: epsilon of remove_small / the eps*I term, and sum_threshold's threshold.
  double google_epsilon = 0.0;
  double google_threshold = 0.98;
};

struct SimilarityResult {
  Measure measure = Measure::Cca;
  Compat compat = Compat::Clean;
  double value = 0.0;                 // the headline similarity (see docs/similarity.md)
  std::vector<double> coefficients;   // canonical correlations, descending (CCA family)
  double mean_rho = 0.0, mean_rho2 = 0.0;  // CCA family: mean of the coefficients and of their squares
  std::vector<double> weights;        // PWCCA projection weights (sum to 1), aligned with coefficients
  std::string weighted_side;          // PWCCA: "x" or "y", the side whose variates weigh
  int64_t n = 0, p = 0, q = 0;        // examples, features of X, features of Y
  int64_t dims_x = 0, dims_y = 0;     // directions actually compared after pruning / SVCCA
  nlohmann::json details = nlohmann::json::object();  // measure-specific extras (google mean, sigma^2, ...)
  std::vector<std::string> warnings;

  nlohmann::json to_json() const;
};

// Rejects out-of-range options with an Error naming the option and value.
void validate_options(const SimilarityOptions& o);

}  // namespace closerlook
