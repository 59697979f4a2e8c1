#include "studies/claims_distill.h"

#include <algorithm>
#include <cmath>

#include "surface/profile.h"

namespace closerlook {

using namespace claim_util;

ClaimCheck check_distill_deeper(const std::vector<std::string>& layers, const std::vector<double>& diag_gain) {
  ClaimCheck c{"distill", "distill.deeper_layers",
          "The knowledge the teacher shares in distillation is disbursed mainly to the deeper layers: the distilled "
          "student is more similar to the teacher than the independent student, mostly in the deep layers."};
  if (diag_gain.size() < 2 || layers.size() != diag_gain.size() || !finite_all(diag_gain)) {
    c.detail = "missing or non-finite similarity differences";
    return c;
  }
  const size_t half = diag_gain.size() / 2;
  std::vector<double> shallow(diag_gain.begin(), diag_gain.begin() + half), deep(diag_gain.begin() + half, diag_gain.end());
  const double ms = mean_of(shallow), md = mean_of(deep);
  for (size_t i = 0; i < layers.size(); ++i) c.numbers["gain_" + layers[i]] = diag_gain[i];
  c.numbers["shallow_mean_gain"] = ms;
  c.numbers["deep_mean_gain"] = md;
  const size_t argmax = std::max_element(diag_gain.begin(), diag_gain.end()) - diag_gain.begin();
  c.numbers["largest_gain_layer"] = layers[argmax];
  c.verdict = (md > ms && md > 0) ? Verdict::Held : Verdict::NotHeld;
  c.detail = "mean similarity gain (distilled minus independent, vs teacher) in deep layers " + std::to_string(md) +
             " vs shallow layers " + std::to_string(ms) + "; largest at " + layers[argmax];
  return c;
}

}  // namespace closerlook
