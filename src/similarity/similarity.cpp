#include "similarity/similarity.h"

#include <fmt/format.h>

#include "core/error.h"
#include "similarity/cca.h"
#include "similarity/cka.h"
#include "similarity/dft_cca.h"
#include "similarity/google_cca.h"

namespace closerlook {

RepresentationOptions representation_options(const SimilarityOptions& opts) {
  RepresentationOptions r;
  r.center = opts.center;
  r.rank_rtol = opts.rank_rtol;
  return r;
}

SimilarityResult similarity(const Representation& x, const Representation& y, Measure measure,
                            const SimilarityOptions& opts) {
  validate_options(opts);
  if (is_spatial(measure))
    throw_bad_input(fmt::format("{} vs {}: dft-cca compares 4-D conv activations [N, C, H, W], not 2-D "
                                "(examples x features) matrices; call it on the 4-D tensors (dft_cca.h, or "
                                "`closerlook similarity A.npy B.npy --measure dft-cca`)",
                                x.name(), y.name()));
  // The compatibility mode concerns the CCA family; CKA is Kornblith's formulas either way.
  if (opts.compat == Compat::Google && is_cca_family(measure)) {
    if (x.n() != y.n())
      throw_bad_input(x.name() + " has " + std::to_string(x.n()) + " examples but " + y.name() + " has " +
                      std::to_string(y.n()));
    return google_similarity(x.raw(), y.raw(), measure, opts, x.name(), y.name());
  }
  if (is_cca_family(measure)) return cca_similarity(x, y, measure, opts);
  return cka_similarity(x, y, measure, opts);
}

SimilarityResult similarity(const torch::Tensor& x, const torch::Tensor& y, Measure measure,
                            const SimilarityOptions& opts, const std::string& x_name, const std::string& y_name) {
  validate_options(opts);
  if (is_spatial(measure)) return dft_cca_similarity(x, y, opts, SpatialLayout::Nchw, x_name, y_name);
  const auto ro = representation_options(opts);
  const Representation rx(x, x_name, ro), ry(y, y_name, ro);
  return similarity(rx, ry, measure, opts);
}

}  // namespace closerlook
