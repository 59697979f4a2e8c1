#include "studies/claims_distill.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "similarity/bootstrap.h"

namespace closerlook {

using namespace claim_util;

std::vector<int64_t> match_by_relative_depth(int64_t n_student, int64_t n_teacher) {
  CL_CHECK_INPUT(n_student >= 1 && n_teacher >= 1, "match_by_relative_depth: both networks need a probe point");
  std::vector<int64_t> j(static_cast<size_t>(n_student));
  if (n_student == 1) {
    j[0] = n_teacher - 1;
    return j;
  }
  const int64_t ds = n_student - 1, dt = n_teacher - 1;
  for (int64_t i = 0; i < n_student; ++i) j[static_cast<size_t>(i)] = (2 * i * dt + ds) / (2 * ds);
  return j;
}

std::string depth_half(size_t i, size_t n) {
  const size_t h = n / 2;
  if (i < h) return "shallow";
  if (i >= n - h) return "deep";
  return "middle";
}

namespace {

struct Pooled {
  double effect = NAN, se = NAN;
  std::pair<double, double> percentile{NAN, NAN};
  int64_t replicates = 0;
};

// The mean gain over the deep half, minus (when `contrast`) the mean over the shallow half, on all
// examples and on every bootstrap replicate (replicates with a NaN layer are dropped).
Pooled pool(const DistillEvidence& e, bool contrast, double level) {
  const size_t n = e.layers.size();
  const size_t B = n ? e.layers.front().replicates.size() : 0;
  auto combine = [&](auto value_of) {
    double deep = 0, shallow = 0;
    int nd = 0, ns = 0;
    for (size_t i = 0; i < n; ++i) {
      const std::string h = depth_half(i, n);
      const double v = value_of(e.layers[i]);
      if (h == "deep") deep += v, ++nd;
      if (h == "shallow") shallow += v, ++ns;
    }
    return deep / nd - (contrast ? shallow / ns : 0.0);
  };
  Pooled p;
  p.effect = combine([](const DistillLayerGain& g) { return g.gain; });
  std::vector<double> reps;
  for (size_t b = 0; b < B; ++b) reps.push_back(combine([b](const DistillLayerGain& g) { return g.replicates[b]; }));
  p.se = bootstrap_se(reps);
  p.percentile = bootstrap_percentile_interval(reps, level);
  p.replicates = finite_count(reps);
  return p;
}

// Why the evidence cannot decide ("" = it can).
std::string unusable(const DistillEvidence& e) {
  if (!e.missing.empty()) return e.missing;
  if (e.layers.size() < 2) return "fewer than 2 non-output layers to split into a shallow and a deep half";
  const size_t B = e.layers.front().replicates.size();
  for (const auto& g : e.layers) {
    if (!std::isfinite(g.gain)) return "the similarity gain of " + g.student_layer + " is not finite";
    if (g.replicates.size() != B) return "the layers have different numbers of bootstrap replicates";
  }
  return "";
}

nlohmann::json iv_json(double lo, double hi) { return nlohmann::json::array({jnum(lo), jnum(hi)}); }

nlohmann::json gain_json(const DistillLayerGain& g, double level) {
  const auto pi = bootstrap_percentile_interval(g.replicates, level);
  const double se = bootstrap_se(g.replicates);
  const Estimate n = normal_estimate(g.gain, se, level);
  return {{"teacher_layer", g.teacher_layer}, {"sim_distilled", jnum(g.sim_distilled)},
          {"sim_indep", jnum(g.sim_indep)},   {"gain", jnum(g.gain)},
          {"se", jnum(se)},                   {"interval", iv_json(n.interval.lo, n.interval.hi)},
          {"percentile_interval", iv_json(pi.first, pi.second)}};
}

// Test accuracy of S_d and S_i, their difference with a normal interval from the two binomial
// standard errors (independent: conservative for two networks scored on one test set), and each
// accuracy's Wilson interval.
nlohmann::json accuracy_json(const DistillEvidence& e, double level) {
  nlohmann::json a = {{"distilled", jnum(e.acc_distilled)}, {"independent", jnum(e.acc_indep)}, {"n_test", jnum(e.n_test)}};
  const double diff = e.acc_distilled - e.acc_indep;
  const double se = std::hypot(binomial_se(e.acc_distilled, e.n_test), binomial_se(e.acc_indep, e.n_test));
  const Estimate d = normal_estimate(diff, se, level);
  a["teacher"] = jnum(e.acc_teacher);
  a["chance"] = jnum(e.chance);
  a["difference"] = jnum(diff);
  a["difference_se"] = jnum(se);
  a["difference_interval"] = iv_json(d.interval.lo, d.interval.hi);
  for (auto [key, acc] : {std::make_pair("distilled_wilson", e.acc_distilled), std::make_pair("independent_wilson", e.acc_indep)}) {
    if (!std::isfinite(acc) || !(e.n_test > 0)) continue;
    const Interval w = wilson_interval(std::round((1 - acc) * e.n_test), e.n_test, level);
    a[key] = iv_json(1 - w.hi, 1 - w.lo);
  }
  return a;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

std::string distill_not_learned(const DistillEvidence& e, double level) {
  if (!std::isfinite(e.chance) || !(e.n_test > 0)) return "";
  for (auto [who, acc] : {std::make_pair("teacher", e.acc_teacher), std::make_pair("distilled student", e.acc_distilled),
                          std::make_pair("independent student", e.acc_indep)}) {
    if (!std::isfinite(acc)) return std::string("the ") + who + " has no test accuracy (diverged?)";
    const Interval w = wilson_interval(std::round((1 - acc) * e.n_test), e.n_test, level);
    if (1 - w.hi <= e.chance)
      return std::string("the ") + who + " has not learned: test accuracy " + fmt(100 * acc) + "%, interval [" +
             fmt(100 * (1 - w.hi)) + ", " + fmt(100 * (1 - w.lo)) + "]% reaches chance " + fmt(100 * e.chance) + "%";
  }
  return "";
}

ClaimCheck check_distill_deeper(const DistillEvidence& e, const DistillThresholds& t) {
  ClaimCheck c{"distill", "distill.deeper_layers",
               "The knowledge the teacher shares in distillation is disbursed mainly to the deeper layers: the "
               "similarity to the teacher gained by distillation is larger in the deep half of the student's layers "
               "than in the shallow half (logits excluded)."};
  c.numbers["measure"] = e.measure;
  c.numbers["margin"] = t.margin;
  const std::string why = unusable(e);
  if (!why.empty()) {
    c.detail = "no estimate: " + why;
    return c;
  }
  const size_t n = e.layers.size();
  nlohmann::json layers = nlohmann::json::object();
  size_t argmax = 0;
  for (size_t i = 0; i < n; ++i) {
    nlohmann::json g = gain_json(e.layers[i], t.level);
    g["half"] = depth_half(i, n);
    layers[e.layers[i].student_layer] = g;
    if (e.layers[i].gain > e.layers[argmax].gain) argmax = i;
  }
  c.numbers["layers"] = layers;
  c.numbers["largest_gain_layer"] = e.layers[argmax].student_layer;
  if (!e.logits.student_layer.empty()) c.numbers["logits"] = gain_json(e.logits, t.level);
  c.numbers["accuracy"] = accuracy_json(e, t.level);
  const Pooled deep = pool(e, false, t.level), contrast = pool(e, true, t.level);
  c.numbers["deep_mean_gain"] = jnum(deep.effect);
  c.numbers["shallow_mean_gain"] = jnum(deep.effect - contrast.effect);
  c.numbers["resamples"] = contrast.replicates;
  c.numbers["contrast_percentile_interval"] = iv_json(contrast.percentile.first, contrast.percentile.second);
  Estimate est = normal_estimate(contrast.effect, contrast.se, t.level);
  est.method = "normal, bootstrap se over examples (" + std::to_string(contrast.replicates) + " resamples)";
  set_decision(c, est, contrast.se, 0.0, Side::Greater, t.margin, distill_not_learned(e, t.level));
  mark_between_runs(c, "the distilled and the independent student");
  c.detail = e.measure + " gain (distilled minus independent, vs the teacher layer at the same relative depth): deep-half mean " +
             fmt(deep.effect) + " minus shallow-half mean " + fmt(deep.effect - contrast.effect) + " = " +
             fmt(contrast.effect) + "; largest at " + e.layers[argmax].student_layer +
             (e.logits.student_layer.empty() ? "" : "; logits (not in the contrast) " + fmt(e.logits.gain)) +
             "; test accuracy distilled minus independent " + fmt(100 * (e.acc_distilled - e.acc_indep)) + " points";
  return c;
}

ClaimCheck check_distill_deep_gain(const DistillEvidence& e, const DistillThresholds& t) {
  ClaimCheck c{"distill", "distill.deep_gain",
               "Distillation makes the student's deep layers more similar to the teacher: the deep half of the "
               "distilled student's layers (logits excluded) is closer to the teacher than the independent student's."};
  c.numbers["measure"] = e.measure;
  c.numbers["margin"] = t.margin;
  const std::string why = unusable(e);
  if (!why.empty()) {
    c.detail = "no estimate: " + why;
    return c;
  }
  const Pooled deep = pool(e, false, t.level);
  std::vector<std::string> names;
  for (size_t i = 0; i < e.layers.size(); ++i)
    if (depth_half(i, e.layers.size()) == "deep") names.push_back(e.layers[i].student_layer);
  c.numbers["deep_layers"] = names;
  c.numbers["resamples"] = deep.replicates;
  c.numbers["percentile_interval"] = iv_json(deep.percentile.first, deep.percentile.second);
  c.numbers["test_acc_difference"] = jnum(e.acc_distilled - e.acc_indep);
  Estimate est = normal_estimate(deep.effect, deep.se, t.level);
  est.method = "normal, bootstrap se over examples (" + std::to_string(deep.replicates) + " resamples)";
  set_decision(c, est, deep.se, 0.0, Side::Greater, t.margin, distill_not_learned(e, t.level));
  mark_between_runs(c, "the distilled and the independent student");
  std::string list;
  for (const auto& s : names) list += (list.empty() ? "" : ", ") + s;
  c.detail = "mean " + e.measure + " gain over the deep half (" + list + "): " + fmt(deep.effect);
  return c;
}

}  // namespace closerlook
