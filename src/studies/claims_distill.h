// Study 4 (distillation): where the teacher's knowledge goes in the student.
//
// Evidence: for each student probe point l, its teacher layer T_m(l) at the same relative depth
// (match_by_relative_depth), and the gain g_l = sim(S_distilled_l, T_m(l)) - sim(S_indep_l, T_m(l))
// on the captured examples, with B bootstrap replicates of g_l (the examples resampled with
// replacement; both similarities recomputed on the same resample, and every layer on the same
// resamples, so layer averages and contrasts have replicates too). The logits are matched to
// the teacher's logits and reported on their own: the KD loss matches them directly, so they
// enter neither half of the contrast. The intervals are normal, effect ± z·se with se the
// bootstrap standard deviation (the percentile interval is recorded beside it); seeds are pooled
// by aggregate_seeds (t over seeds + the bootstrap se).
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "studies/claim_check.h"

namespace closerlook {

// The teacher probe point matched to each of n_student probe points by relative depth:
// j(i) = round(i * (n_teacher - 1) / (n_student - 1)), halves rounded up (computed in integers:
// floor((2 i (n_t - 1) + (n_s - 1)) / (2 (n_s - 1)))), so the first is matched to the first, the
// last to the last, and equal depths to themselves. n_student = 1: the last teacher point.
// Error(BadInput) for a count below 1.
std::vector<int64_t> match_by_relative_depth(int64_t n_student, int64_t n_teacher);

// Which half of n non-output layers layer i is in: the first floor(n/2) are "shallow", the last
// floor(n/2) "deep"; with n odd the middle layer is in neither ("middle").
std::string depth_half(size_t i, size_t n);

struct DistillLayerGain {
  std::string student_layer, teacher_layer;
  double sim_distilled = std::numeric_limits<double>::quiet_NaN();  // sim(S_d, T) on all examples
  double sim_indep = std::numeric_limits<double>::quiet_NaN();      // sim(S_i, T) on all examples
  double gain = std::numeric_limits<double>::quiet_NaN();           // sim_distilled - sim_indep
  std::vector<double> replicates;  // the gain on each bootstrap resample (the same resamples for every layer)
};

struct DistillEvidence {
  std::vector<DistillLayerGain> layers;  // the student's non-output probe points, shallow to deep
  DistillLayerGain logits;               // the output layer (student_layer "" = absent)
  std::string measure;                   // the similarity of the gains (e.g. "cka-linear")
  // Final test accuracies of the distilled and the independent student, on n_test test examples.
  double acc_distilled = std::numeric_limits<double>::quiet_NaN();
  double acc_indep = std::numeric_limits<double>::quiet_NaN();
  double n_test = std::numeric_limits<double>::quiet_NaN();
  // The teacher's test accuracy and chance (1 / classes): the claims are decided only when every
  // network has learned, i.e. the Wilson interval of each one's test accuracy lies above chance
  // (otherwise inconclusive, "has not learned", with the numbers still reported). NaN: not checked.
  double acc_teacher = std::numeric_limits<double>::quiet_NaN();
  double chance = std::numeric_limits<double>::quiet_NaN();
  std::string missing;  // non-empty: why there is no evidence (a run diverged, no activations, ...)
};

struct DistillThresholds {
  double level = 0.95;   // two-sided level of the intervals ([claims] level)
  double margin = 0.0;   // [distill] margin: the smallest gain / contrast (similarity units) that counts
};

// distill.deeper_layers: effect = mean gain over the deep half - mean gain over the shallow half
// (non-output layers only), claimed > 0, equivalence margin thresholds.margin.
ClaimCheck check_distill_deeper(const DistillEvidence& e, const DistillThresholds& t);
// distill.deep_gain: effect = mean gain over the deep half, claimed > 0 (the distilled student's
// deep layers are closer to the teacher than the independent student's), same margin.
ClaimCheck check_distill_deep_gain(const DistillEvidence& e, const DistillThresholds& t);

// "" when every network has learned (see DistillEvidence::chance), else which one has not, with
// its accuracy, interval and chance.
std::string distill_not_learned(const DistillEvidence& e, double level);

}  // namespace closerlook
