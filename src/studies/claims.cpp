#include "studies/claims.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "core/error.h"
#include "report/claims.h"
#include "surface/profile.h"

namespace closerlook {

namespace {
nlohmann::json jnum(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
double jget(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
}
}  // namespace

void set_decision(ClaimCheck& c, const Estimate& e, double within_se, double null_value, Side side, double margin,
                  const std::string& gate) {
  Decision d = decide(e, null_value, side, margin);
  if (!gate.empty()) d = {Verdict::Inconclusive, "inconclusive: " + gate};
  else d.reason += " (" + e.method + ")";
  c.verdict = d.verdict;
  c.numbers["decision"] = to_json(e, null_value, side, d);
  c.numbers["decision"]["margin"] = margin;
  c.numbers["decision"]["se"] = jnum(within_se);
  if (!gate.empty()) c.numbers["decision"]["gate"] = gate;
}

nlohmann::json to_json(const ClaimCheck& c) {
  nlohmann::json j = {{"study", c.study}, {"id", c.id},           {"claim", c.text},
                      {"verdict", to_string(c.verdict)}, {"numbers", c.numbers}, {"detail", c.detail}};
  if (c.numbers.is_object() && c.numbers.contains("decision") && c.numbers["decision"].is_object()) {
    const auto& d = c.numbers["decision"];
    j["effect"] = d.value("effect", nlohmann::json());
    j["interval"] = d.value("interval", nlohmann::json::array({nullptr, nullptr}));
    j["null"] = d.value("null", nlohmann::json());
    j["reason"] = d.value("reason", "");
  } else {
    j["effect"] = nullptr;
    j["interval"] = nlohmann::json::array({nullptr, nullptr});
    j["null"] = nullptr;
    j["reason"] = "not decided by an interval: " + c.detail;
  }
  return j;
}

Claim to_report_claim(const ClaimCheck& c) {
  Claim r;
  r.study = c.study;
  r.claim = c.text;
  r.verdict = to_string(c.verdict);
  // The report shows flat name -> value rows: nested numbers become "pair/quantity" keys.
  r.numbers = nlohmann::json::object();
  std::function<void(const nlohmann::json&, const std::string&)> flatten = [&](const nlohmann::json& j,
                                                                                const std::string& key) {
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) flatten(it.value(), key.empty() ? it.key() : key + "/" + it.key());
    } else if (j.is_array()) {
      for (size_t i = 0; i < j.size(); ++i) flatten(j[i], key + "/" + std::to_string(i));
    } else if (j.is_number_float() && !std::isfinite(j.get<double>())) {
      r.numbers[key] = nullptr;
    } else {
      r.numbers[key] = j;
    }
  };
  flatten(c.numbers, "");
  r.numbers["check"] = c.id;
  r.detail = c.detail;
  return r;
}

namespace {
double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }
double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double mean_of(const std::vector<double>& v) {
  return v.empty() ? NAN : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}
bool finite_all(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}
}  // namespace

ClaimCheck check_sgdr_line_barrier(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th) {
  ClaimCheck c{"sgdr", "sgdr.line_barrier",
          "SGDR moves over barriers: the straight line between consecutive SGDR snapshots has a train-loss barrier."};
  int with_barrier = 0, valid = 0;
  double smallest = INFINITY;
  for (const auto& p : sgdr) {
    if (p.line_train_loss.size() < 2 || !finite_all(p.line_train_loss)) continue;
    ++valid;
    const double b = barrier_height(p.t, p.line_train_loss);
    c.numbers[p.name] = {{"line_barrier_train_loss", b},
                         {"line_barrier_test_err", barrier_height(p.t, p.line_test_err)}};
    if (b > th.min_line_barrier) ++with_barrier;
    smallest = std::min(smallest, b);
  }
  c.numbers["threshold_nats"] = th.min_line_barrier;
  if (valid == 0) {
    c.detail = "no finite straight-line profiles between SGDR snapshots";
    return c;
  }
  // Effect: the smallest line barrier over the pairs (every pair must have one), against the
  // threshold. No within-run error of a train-loss barrier is known: one seed is inconclusive.
  set_decision(c, normal_estimate(smallest, NAN, th.level), NAN, th.min_line_barrier, Side::Greater);
  c.detail = std::to_string(with_barrier) + " of " + std::to_string(valid) +
             " snapshot pairs have a straight-line train-loss barrier above the threshold; effect = the smallest";
  return c;
}

ClaimCheck check_sgdr_curve_connects(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th) {
  ClaimCheck c{"sgdr", "sgdr.curve_connects",
          "SGDR snapshots are not separate minima: a low-loss curve connects them (no barrier along the curve), "
          "so 'converging to and escaping from multiple local minima' is not substantiated."};
  int connected = 0, valid = 0, barriers = 0;
  double worst_fraction = -INFINITY;
  for (const auto& p : sgdr) {
    if (p.curve_train_loss.size() < 2 || !finite_all(p.curve_train_loss) || !finite_all(p.line_train_loss)) continue;
    ++valid;
    const double bl = barrier_height(p.t, p.line_train_loss);
    const double bc = barrier_height(p.t, p.curve_train_loss);
    const bool has_barrier = bl > th.min_line_barrier;
    const double fraction = has_barrier ? bc / bl : NAN;
    const bool ok = has_barrier && fraction <= th.max_curve_fraction;
    c.numbers[p.name] = {{"line_barrier_train_loss", bl}, {"curve_barrier_train_loss", bc},
                         {"line_has_barrier", has_barrier}, {"curve_fraction", jnum(fraction)}, {"connected", ok}};
    if (!has_barrier) continue;  // nothing to get around: this pair says nothing about the claim
    ++barriers;
    if (ok) ++connected;
    worst_fraction = std::max(worst_fraction, fraction);
  }
  c.numbers["threshold_nats"] = th.min_line_barrier;
  c.numbers["max_curve_fraction"] = th.max_curve_fraction;
  if (valid == 0) {
    c.detail = "no trained curves between SGDR snapshots";
    return c;
  }
  // Effect: the largest curve barrier as a fraction of its line's, over the pairs whose line has a
  // barrier; decided only where there is one (else "inconclusive: no barrier").
  set_decision(c, normal_estimate(barriers ? worst_fraction : NAN, NAN, th.level), NAN, th.max_curve_fraction,
               Side::Less, 0.0, barriers ? "" : "no barrier (no straight line between SGDR snapshots rises above the threshold)");
  c.detail = std::to_string(connected) + " of " + std::to_string(barriers) + " pairs with a line barrier (of " +
             std::to_string(valid) + ") are joined by a curve whose barrier is at most " +
             std::to_string(th.max_curve_fraction) + " x the straight line's";
  return c;
}

ClaimCheck check_sgd_no_barrier(const std::vector<PairProfile>& sgd, const SgdrThresholds& th) {
  ClaimCheck c{"sgdr", "sgdr.sgd_no_barrier",
          "For step-decay SGD, none of the consecutive snapshot pairs shows a train-loss barrier on the straight line."};
  int clean = 0, valid = 0;
  double largest = -INFINITY;
  for (const auto& p : sgd) {
    if (p.line_train_loss.size() < 2 || !finite_all(p.line_train_loss)) continue;
    ++valid;
    const double b = barrier_height(p.t, p.line_train_loss);
    c.numbers[p.name] = {{"line_barrier_train_loss", b}};
    if (b <= th.min_line_barrier) ++clean;
    largest = std::max(largest, b);
  }
  c.numbers["threshold_nats"] = th.min_line_barrier;
  if (valid == 0) {
    c.detail = "no straight-line profiles between SGD snapshots";
    return c;
  }
  // Effect: the largest SGD line barrier, claimed below the threshold.
  set_decision(c, normal_estimate(largest, NAN, th.level), NAN, th.min_line_barrier, Side::Less);
  c.detail = std::to_string(clean) + " of " + std::to_string(valid) + " SGD snapshot pairs have no barrier; effect = the largest";
  return c;
}

ClaimCheck check_curve_overfits(const std::vector<PairProfile>& sgdr) {
  ClaimCheck c{"sgdr", "sgdr.curve_overfits",
          "Points on the connecting curve reach lower train loss than the SGDR iterates but do not generalise as well."};
  int held = 0, valid = 0;
  for (const auto& p : sgdr) {
    if (p.curve_train_loss.size() < 3 || !finite_all(p.curve_train_loss) || !finite_all(p.curve_test_err)) continue;
    ++valid;
    const double end_loss = std::min(p.curve_train_loss.front(), p.curve_train_loss.back());
    const double end_err = std::min(p.curve_test_err.front(), p.curve_test_err.back());
    // The point of lowest train loss on the curve (interior only).
    size_t best = 1;
    for (size_t i = 1; i + 1 < p.curve_train_loss.size(); ++i)
      if (p.curve_train_loss[i] < p.curve_train_loss[best]) best = i;
    const bool lower_loss = p.curve_train_loss[best] < end_loss;
    const bool worse_err = p.curve_test_err[best] >= end_err;
    c.numbers[p.name] = {{"endpoint_min_train_loss", end_loss}, {"curve_min_train_loss", p.curve_train_loss[best]},
                         {"endpoint_min_test_err", end_err},    {"test_err_at_curve_min", p.curve_test_err[best]},
                         {"t_at_curve_min", p.t[best]}};
    if (lower_loss && worse_err) ++held;
  }
  if (valid == 0) {
    c.detail = "no trained curves";
    return c;
  }
  c.verdict = held == valid ? Verdict::Held : (held == 0 ? Verdict::NotHeld : Verdict::Inconclusive);
  c.detail = std::to_string(held) + " of " + std::to_string(valid) +
             " curves have an interior point with lower train loss and no better test error than the best iterate";
  return c;
}

ClaimCheck check_resilience(const std::vector<ModeCurve>& curves, double tolerance, double level) {
  ClaimCheck c{"resilience", "resilience.curves_connect",
          "Mode connectivity is resilient: for each variant A-F a curve from G is found on which every point "
          "generalises almost as well as the two endpoints."};
  int held = 0, valid = 0;
  double effect = -INFINITY, effect_se = NAN;
  for (const auto& m : curves) {
    if (m.test_err.size() < 2 || !finite_all(m.test_err)) {
      c.numbers[m.mode] = {{"status", "missing or diverged"}};
      continue;
    }
    ++valid;
    const double worst_end = std::max(m.test_err.front(), m.test_err.back());
    const double worst_curve = max_of(m.test_err);
    const bool ok = worst_curve <= worst_end + tolerance;
    // Binomial standard errors of both error rates on the n_test examples (treated as independent,
    // which overstates the error of a difference measured on one test set: conservative).
    const double se = std::hypot(binomial_se(worst_curve, m.n_test), binomial_se(worst_end, m.n_test));
    const double rise = worst_curve - worst_end;
    nlohmann::json n = {{"endpoint_G_test_err", m.test_err.front()}, {"endpoint_X_test_err", m.test_err.back()},
                        {"curve_max_test_err", worst_curve}, {"rise", rise}, {"rise_se", jnum(se)}, {"connected", ok}};
    if (std::isfinite(m.n_test)) {
      const Interval w = wilson_interval(std::round(worst_curve * m.n_test), m.n_test, level);
      n["curve_max_test_err_wilson"] = nlohmann::json::array({w.lo, w.hi});
    }
    if (!m.line_test_err.empty()) n["line_max_test_err"] = max_of(m.line_test_err);
    c.numbers[m.mode] = n;
    if (ok) ++held;
    if (rise > effect) effect = rise, effect_se = se;
  }
  c.numbers["tolerance"] = tolerance;
  if (valid == 0) {
    c.detail = "no curves";
    return c;
  }
  // Effect: the largest rise over the curves (the claim is for every variant), against the tolerance.
  const bool all = valid == static_cast<int>(curves.size());
  set_decision(c, normal_estimate(effect, effect_se, level), effect_se, tolerance, Side::Less, 0.0,
               all ? "" : "a curve is missing or diverged");
  c.detail = std::to_string(held) + " of " + std::to_string(curves.size()) +
             " curves keep test error within the tolerance of the worse endpoint; effect = the largest rise";
  return c;
}

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

ClaimCheck aggregate_seeds(const std::vector<ClaimCheck>& per_seed) {
  if (per_seed.empty()) throw Error(ExitCode::Internal, "aggregate_seeds: no claims");
  ClaimCheck c = per_seed.front();
  int held = 0, not_held = 0;
  nlohmann::json seeds = nlohmann::json::array();
  for (const auto& s : per_seed) {
    held += s.verdict == Verdict::Held;
    not_held += s.verdict == Verdict::NotHeld;
    seeds.push_back({{"verdict", to_string(s.verdict)}, {"numbers", s.numbers}});
  }
  const int k = static_cast<int>(per_seed.size());
  c.verdict = held == k ? Verdict::Held : (not_held == k ? Verdict::NotHeld : Verdict::Inconclusive);
  // mean ± std of every top-level (or one-level nested) number present in all seeds
  nlohmann::json stats = nlohmann::json::object();
  std::function<void(const nlohmann::json&, const std::string&)> walk = [&](const nlohmann::json& j, const std::string& key) {
    if (j.is_number()) {
      std::vector<double> vals;
      for (const auto& s : per_seed) {
        const nlohmann::json* node = &s.numbers;
        bool ok = true;
        size_t pos = 0;
        std::string k2 = key;
        while (ok && !k2.empty()) {
          pos = k2.find('/');
          std::string part = k2.substr(0, pos);
          if (!node->contains(part)) ok = false;
          else node = &(*node)[part];
          k2 = pos == std::string::npos ? "" : k2.substr(pos + 1);
        }
        if (ok && node->is_number()) vals.push_back(node->get<double>());
      }
      if (static_cast<int>(vals.size()) == k) {
        const double m = mean_of(vals);
        double var = 0;
        for (double v : vals) var += (v - m) * (v - m);
        stats[key] = {{"mean", m}, {"std", k > 1 ? std::sqrt(var / (k - 1)) : 0.0}};
      }
    } else if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) walk(it.value(), key.empty() ? it.key() : key + "/" + it.key());
    }
  };
  walk(per_seed.front().numbers, "");
  c.numbers = {{"seeds", k}, {"held_in", held}, {"mean_std", stats}, {"per_seed", seeds}};
  c.detail = "held for " + std::to_string(held) + " of " + std::to_string(k) + " seeds; " + per_seed.front().detail;
  // The interval rule on the pooled per-seed effects, when every seed has a decision.
  bool decided = true;
  for (const auto& s : per_seed)
    decided = decided && s.numbers.is_object() && s.numbers.contains("decision") && s.numbers["decision"].is_object();
  if (!decided) return c;
  const auto& d0 = per_seed.front().numbers["decision"];
  std::vector<double> effects, ses;
  std::string gate;
  bool se_known = true;
  for (size_t i = 0; i < per_seed.size(); ++i) {
    const auto& d = per_seed[i].numbers["decision"];
    effects.push_back(jget(d, "effect"));
    ses.push_back(jget(d, "se"));
    se_known = se_known && std::isfinite(ses.back());
    if (gate.empty() && d.contains("gate")) gate = d["gate"].get<std::string>() + " (seed " + std::to_string(i) + ")";
  }
  const double level = d0.contains("level") ? jget(d0, "level") : 0.95;
  const Estimate e = seed_estimate(effects, se_known ? ses : std::vector<double>{}, std::isfinite(level) ? level : 0.95);
  const double pooled_se = NAN;  // the pooled interval already contains the within-run error
  set_decision(c, e, pooled_se, jget(d0, "null"), d0.value("side", "greater") == "less" ? Side::Less : Side::Greater,
               std::isfinite(jget(d0, "margin")) ? jget(d0, "margin") : 0.0, gate);
  c.detail = "interval over " + std::to_string(k) + " seeds (" + std::to_string(held) + " held alone); " +
             per_seed.front().detail;
  return c;
}

}  // namespace closerlook
