#include "studies/claims_warmup.h"

#include <algorithm>
#include <cmath>

#include "surface/profile.h"

namespace closerlook {

using namespace claim_util;

namespace {
const WarmupRun* find_run(const std::vector<WarmupRun>& runs, const std::string& name) {
  for (const auto& r : runs)
    if (r.name == name) return &r;
  return nullptr;
}
double deep_mean(const WarmupRun& r, int deep) {
  const int n = static_cast<int>(r.similarity.size());
  std::vector<double> tail(r.similarity.begin() + std::max(0, n - deep), r.similarity.end());
  return mean_of(tail);
}
double shallow_mean(const WarmupRun& r, int deep) {
  const int n = static_cast<int>(r.similarity.size());
  std::vector<double> head(r.similarity.begin(), r.similarity.begin() + std::max(0, n - deep));
  return mean_of(head);
}
}  // namespace

ClaimCheck check_warmup_deep_layers(const std::vector<WarmupRun>& runs, int deep_layers, double margin) {
  ClaimCheck c{"warmup", "warmup.deep_layers_stabilised",
          "Warmup prevents the deeper layers from creating instability: without warmup, a large batch changes the deep "
          "(FC) layers far more over the warmup window than with warmup or with a small batch."};
  const WarmupRun* lb = find_run(runs, "large-batch");
  const WarmupRun* lbw = find_run(runs, "large-batch+warmup");
  const WarmupRun* sb = find_run(runs, "small-batch");
  if (!lb || !lbw || !sb || lb->similarity.empty() || lbw->similarity.empty() || sb->similarity.empty()) {
    c.detail = "missing runs";
    return c;
  }
  for (const auto* r : {sb, lb, lbw})
    c.numbers[r->name] = {{"deep_mean_similarity", deep_mean(*r, deep_layers)},
                          {"shallow_mean_similarity", shallow_mean(*r, deep_layers)}};
  c.numbers["deep_layers"] = deep_layers;
  c.numbers["margin"] = margin;
  const double d_lb = deep_mean(*lb, deep_layers), d_lbw = deep_mean(*lbw, deep_layers), d_sb = deep_mean(*sb, deep_layers);
  if (!std::isfinite(d_lb) || !std::isfinite(d_lbw) || !std::isfinite(d_sb)) {
    c.detail = "non-finite similarities";
    return c;
  }
  const bool below_warm = d_lb + margin < d_lbw, below_sb = d_lb + margin < d_sb;
  c.verdict = (below_warm && below_sb) ? Verdict::Held : (!below_warm && !below_sb ? Verdict::NotHeld : Verdict::Inconclusive);
  c.detail = "deep-layer similarity (iteration 0 vs end of warmup window): large batch " + std::to_string(d_lb) +
             ", with warmup " + std::to_string(d_lbw) + ", small batch " + std::to_string(d_sb);
  return c;
}

ClaimCheck check_fc_freeze(const std::vector<WarmupRun>& runs) {
  ClaimCheck c{"warmup", "warmup.fc_freeze",
          "Freezing the FC layers during the warmup window recovers most of the benefit of warmup."};
  const WarmupRun* lb = find_run(runs, "large-batch");
  const WarmupRun* lbw = find_run(runs, "large-batch+warmup");
  const WarmupRun* fr = find_run(runs, "large-batch+fc-freeze");
  if (!lb || !lbw || !fr) {
    c.detail = "missing runs";
    return c;
  }
  const double gain_w = lbw->final_test_acc - lb->final_test_acc;
  const double gain_f = fr->final_test_acc - lb->final_test_acc;
  c.numbers = {{"test_acc_large_batch", lb->final_test_acc},
               {"test_acc_warmup", lbw->final_test_acc},
               {"test_acc_fc_freeze", fr->final_test_acc},
               {"recovered_fraction", gain_w > 0 ? gain_f / gain_w : NAN}};
  if (gain_w <= 0.002) {
    c.detail = "warmup did not improve on the large batch in this run, so there is no benefit to recover";
    return c;
  }
  c.verdict = gain_f >= 0.5 * gain_w ? Verdict::Held : Verdict::NotHeld;
  c.detail = "FC freeze recovers " + std::to_string(gain_w > 0 ? 100.0 * gain_f / gain_w : 0.0) +
             "% of warmup's test-accuracy gain over the large batch without warmup";
  return c;
}

}  // namespace closerlook
