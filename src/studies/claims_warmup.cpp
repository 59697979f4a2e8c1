#include "studies/claims_warmup.h"

#include <algorithm>
#include <cmath>

#include "similarity/bootstrap.h"

namespace closerlook {

using namespace claim_util;

namespace {
const WarmupRun* find_run(const std::vector<WarmupRun>& runs, const std::string& name) {
  for (const auto& r : runs)
    if (r.name == name) return &r;
  return nullptr;
}

double floor_normalised(double s, double f) {
  if (!std::isfinite(s) || !std::isfinite(f) || !(1.0 - f > 1e-12)) return NAN;
  return (1.0 - s) / (1.0 - f);
}

std::vector<double> changes_from(const std::vector<double>& sim, const std::vector<double>& floor) {
  std::vector<double> c;
  for (size_t l = 0; l < sim.size(); ++l) c.push_back(floor_normalised(sim[l], l < floor.size() ? floor[l] : NAN));
  return c;
}

// mean of the last k minus mean of the others (the plain deep - shallow change).
double deep_minus_shallow(const std::vector<double>& v, int k) {
  const int n = static_cast<int>(v.size());
  if (k < 1 || n <= k || !finite_all(v)) return NAN;
  return mean_of({v.end() - k, v.end()}) - mean_of({v.begin(), v.end() - k});
}

std::vector<double> one_minus(const std::vector<double>& v) {
  std::vector<double> o;
  for (double x : v) o.push_back(1.0 - x);
  return o;
}

// Bootstrap replicates of share(a) - share(b) under the similarity measure (paired resamples).
std::vector<double> share_contrast_replicates(const WarmupRun& a, const WarmupRun& b, int deep) {
  std::vector<double> out;
  const size_t B = std::min(a.replicates.size(), b.replicates.size());
  for (size_t i = 0; i < B; ++i)
    out.push_back(deep_share(changes_from(a.replicates[i], a.floor), deep) -
                  deep_share(changes_from(b.replicates[i], b.floor), deep));
  return out;
}

bool deep_at_floor(const WarmupRun& r, int deep, double z) {
  const int n = static_cast<int>(r.similarity.size());
  if (n < deep || r.floor.size() != r.similarity.size() || r.floor_sd.size() != r.similarity.size()) return false;
  for (int l = n - deep; l < n; ++l)
    if (!(r.similarity[l] <= r.floor[l] + z * r.floor_sd[l])) return false;
  return true;
}

bool has_measure(const WarmupRun& r, const std::string& m) {
  return m == "weights" ? !r.weight_change.empty() : !r.similarity.empty();
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

// The se of the mean of per-batch values, sd / sqrt(n): NaN with fewer than two values or any
// non-finite one (a batch without a measurement must not silently drop out of the error).
double batch_mean_se(const std::vector<double>& v) {
  if (v.size() < 2 || !finite_all(v)) return NAN;
  const double m = mean_of(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / double(v.size() - 1) / double(v.size()));
}

// Every curvature block at one point: the top eigenvector's mass (and its between-batch se) and,
// with per-layer curvature, the block's own lambda_max eta / 2 (null without).
nlohmann::json blocks_at(const WarmupRun& r, const WarmupRun::Sharpness& p) {
  auto at = [](const std::vector<double>& v, size_t b) { return b < v.size() ? v[b] : NAN; };
  nlohmann::json blocks = nlohmann::json::array();
  for (size_t b = 0; b < r.curvature_blocks.size(); ++b)
    blocks.push_back({{"name", r.curvature_blocks[b]},
                      {"numel", jnum(at(r.curvature_numel, b))},
                      {"top_vector_mass", jnum(at(p.block_mass, b))},
                      {"top_vector_mass_se", jnum(at(p.block_mass_se, b))},
                      {"sharpness", jnum(at(p.block_lambda, b) * p.lr / 2)}});
  return blocks;
}
}  // namespace

std::vector<double> warmup_changes(const WarmupRun& r, const std::string& measure) {
  return measure == "weights" ? r.weight_change : changes_from(r.similarity, r.floor);
}

double deep_share(const std::vector<double>& change, int deep_layers) {
  const int n = static_cast<int>(change.size());
  if (deep_layers < 1 || n <= deep_layers || !finite_all(change)) return NAN;
  const double d = mean_of({change.end() - deep_layers, change.end()});
  const double s = mean_of({change.begin(), change.end() - deep_layers});
  return d + s > 0 ? d / (d + s) : NAN;
}

ClaimCheck check_warmup_deep_layers(const std::vector<WarmupRun>& runs, const WarmupCheckOptions& o,
                                    const WarmupArms& arms) {
  ClaimCheck c{"warmup", "warmup.deep_layers_stabilised",
               "Warmup prevents the deeper layers from creating instability: without warmup, a large batch puts a "
               "larger share of its change over the warmup window into the deep (FC) layers than with warmup (or "
               "with a small batch)."};
  const WarmupRun* lb = find_run(runs, arms.large);
  const WarmupRun* lbw = find_run(runs, arms.warmup);
  const WarmupRun* sb = find_run(runs, arms.small);
  const int deep = o.deep_layers;
  c.numbers["deep_layers"] = deep;
  c.numbers["decided_by"] = o.decide_by == "weights" ? "relative weight change" : o.measure + " similarity";
  c.numbers["arms"] = {{"large", arms.large}, {"warmup", arms.warmup}, {"small", arms.small}};
  if (!lb || !lbw || !has_measure(*lb, o.decide_by) || !has_measure(*lbw, o.decide_by)) {
    c.detail = "missing runs or measurements (" + arms.large + ", " + arms.warmup + ")";
    set_decision(c, Estimate{}, NAN, 0.0, Side::Greater, o.margin, "missing runs or measurements");
    return c;
  }
  for (const WarmupRun* r : {sb, lb, lbw}) {
    if (!r) continue;
    const auto cs = warmup_changes(*r, "similarity"), cw = r->weight_change;
    c.numbers[r->name] = {{"layers", r->layers},
                          {"similarity", r->similarity},
                          {"floor", r->floor},
                          {"floor_sd", r->floor_sd},
                          {"similarity_change", cs},
                          {"weights", r->weights},
                          {"weight_change", cw},
                          {"deep_share_similarity", jnum(deep_share(cs, deep))},
                          {"deep_share_weights", jnum(deep_share(cw, deep))},
                          {"deep_minus_shallow_1_minus_similarity", jnum(deep_minus_shallow(one_minus(r->similarity), deep))},
                          {"deep_minus_shallow_weight_change", jnum(deep_minus_shallow(cw, deep))}};
  }
  // The plain difference-in-differences (reported, not deciding).
  c.numbers["diff_in_diff_1_minus_similarity"] =
      jnum(deep_minus_shallow(one_minus(lb->similarity), deep) - deep_minus_shallow(one_minus(lbw->similarity), deep));
  c.numbers["diff_in_diff_weight_change"] =
      jnum(deep_minus_shallow(lb->weight_change, deep) - deep_minus_shallow(lbw->weight_change, deep));

  const bool by_sim = o.decide_by != "weights";
  auto contrast = [&](const WarmupRun& a, const WarmupRun& b, double& se) {
    const double e = deep_share(warmup_changes(a, o.decide_by), deep) - deep_share(warmup_changes(b, o.decide_by), deep);
    se = by_sim ? bootstrap_se(share_contrast_replicates(a, b, deep)) : NAN;
    return e;
  };
  double se = NAN;
  const double effect = contrast(*lb, *lbw, se);
  if (sb && has_measure(*sb, o.decide_by)) {
    double se_sb = NAN;
    const double e_sb = contrast(*lb, *sb, se_sb);
    const Estimate es = normal_estimate(e_sb, se_sb, o.level);
    c.numbers["vs_small_batch"] = {{"effect", jnum(e_sb)},
                                   {"se", jnum(se_sb)},
                                   {"interval", {jnum(es.interval.lo), jnum(es.interval.hi)}}};
  }
  std::string gate;
  if (by_sim) {
    const bool floor_lb = deep_at_floor(*lb, deep, o.floor_z), floor_w = deep_at_floor(*lbw, deep, o.floor_z);
    c.numbers["deep_at_floor"] = {{arms.large, floor_lb}, {arms.warmup, floor_w}};
    if (floor_lb && floor_w) gate = "inside noise floor (the deep layers of both runs are as dissimilar to iteration 0 as "
                                    "permuted examples)";
  }
  set_decision(c, normal_estimate(effect, se, o.level), se, 0.0, Side::Greater, o.margin, gate);
  mark_between_runs(c, "the large-batch runs with and without warmup");
  c.detail = "deep share of the change over the window (" + std::string(c.numbers["decided_by"]) + "): " + arms.large +
             " " + fmt(deep_share(warmup_changes(*lb, o.decide_by), deep)) + ", " + arms.warmup + " " +
             fmt(deep_share(warmup_changes(*lbw, o.decide_by), deep)) + "; effect = the difference";
  return c;
}

std::pair<double, int> max_sharpness(const WarmupRun& r, int64_t window) {
  double best = NAN;
  int at = -1;
  for (size_t i = 0; i < r.sharpness.size(); ++i) {
    const auto& p = r.sharpness[i];
    if (p.iter > double(window)) continue;
    const double s = p.lambda * p.lr / 2;
    if (std::isfinite(s) && (at < 0 || s > best)) {
      best = s;
      at = static_cast<int>(i);
    }
  }
  return {best, at};
}

ClaimCheck check_warmup_sharpness(const std::vector<WarmupRun>& runs, const WarmupCheckOptions& o,
                                  const WarmupArms& arms) {
  ClaimCheck c{"warmup", "warmup.sharpness_2eta",
               "Without warmup the large batch's top Hessian eigenvalue exceeds the stability bound 2/eta early "
               "(edge of stability): over the warmup window, max lambda_max * eta / 2 is larger without warmup than "
               "with it."};
  const WarmupRun* lb = find_run(runs, arms.large);
  const WarmupRun* lbw = find_run(runs, arms.warmup);
  c.numbers["arms"] = {{"large", arms.large}, {"warmup", arms.warmup}};
  c.numbers["window"] = o.window;
  c.numbers["deep_layers"] = o.deep_layers;
  if (!lb || !lbw) {
    c.detail = "missing runs (" + arms.large + ", " + arms.warmup + ")";
    set_decision(c, Estimate{}, NAN, 0.0, Side::Greater, o.sharpness_margin, "missing runs");
    return c;
  }
  struct Arm {
    double s = NAN, se = NAN, deep_mass = NAN;
    int batches = 0;
  };
  auto arm = [&](const WarmupRun& r) {
    Arm a;
    const auto [s, at] = max_sharpness(r, o.window);
    nlohmann::json j = {{"points", r.sharpness.size()}, {"momentum", r.momentum}, {"bound_momentum", 1.0 + r.momentum}};
    nlohmann::json traj = nlohmann::json::array();
    for (const auto& p : r.sharpness)
      traj.push_back({{"iter", p.iter}, {"lr", jnum(p.lr)}, {"lambda_max", jnum(p.lambda)},
                      {"sharpness", jnum(p.lambda * p.lr / 2)}});
    j["trajectory"] = traj;
    if (at >= 0) {
      const auto& p = r.sharpness[at];
      a.s = s;
      a.se = p.lambda_se * p.lr / 2;
      a.batches = p.batches;
      j["max"] = jnum(s);
      j["max_se"] = jnum(a.se);
      j["max_iter"] = p.iter;
      j["max_lr"] = jnum(p.lr);
      j["max_lambda"] = jnum(p.lambda);
      j["exceeds_bound"] = s > 1.0;
      j["exceeds_momentum_bound"] = s > 1.0 + r.momentum;
      a.deep_mass = deep_top_vector_share(p, o.deep_layers);
      if (std::isfinite(a.deep_mass)) j["deep_share_top_vector"] = a.deep_mass;
      j["blocks_at_max"] = blocks_at(r, p);
    }
    c.numbers[r.name] = j;
    return a;
  };
  const Arm a = arm(*lb), b = arm(*lbw);
  c.numbers["deep_share_top_vector_difference"] = jnum(a.deep_mass - b.deep_mass);
  std::string gate;
  if (!std::isfinite(a.s) || !std::isfinite(b.s))
    gate = "no finite curvature measurement in the window (" + (!std::isfinite(a.s) ? arms.large : arms.warmup) + ")";
  const double effect = a.s - b.s, se = std::hypot(a.se, b.se);
  // The se's come from a few curvature batches each: t with the smaller arm's df (conservative
  // against Welch's), not the normal quantile.
  const int df = std::min(a.batches, b.batches) - 1;
  c.numbers["df"] = df;
  set_decision(c, t_estimate(effect, se, df, o.level), se, 0.0, Side::Greater, o.sharpness_margin, gate);
  mark_between_runs(c, "the large-batch runs with and without warmup");
  c.detail = "max over iterations 0.." + std::to_string(o.window) + " of lambda_max * eta / 2: " + arms.large + " " +
             fmt(a.s) + ", " + arms.warmup + " " + fmt(b.s) + " (1 = the bound 2/eta); deep blocks' share of the top "
             "eigenvector at the max: " + fmt(a.deep_mass) + " vs " + fmt(b.deep_mass) + "; effect = the difference";
  return c;
}

double deep_parameter_share(const WarmupRun& r, int deep_layers) {
  const int nb = static_cast<int>(r.curvature_numel.size());
  if (deep_layers < 1 || nb <= deep_layers || !finite_all(r.curvature_numel)) return NAN;
  double deep = 0, all = 0;
  for (int b = 0; b < nb; ++b) {
    all += r.curvature_numel[b];
    if (b >= nb - deep_layers) deep += r.curvature_numel[b];
  }
  return all > 0 ? deep / all : NAN;
}

double deep_top_vector_share(const WarmupRun::Sharpness& p, int deep_layers) {
  const int nb = static_cast<int>(p.block_mass.size());
  if (deep_layers < 1 || nb <= deep_layers || !finite_all(p.block_mass)) return NAN;
  double deep = 0;
  for (int b = nb - deep_layers; b < nb; ++b) deep += p.block_mass[b];
  return deep;
}

std::vector<double> deep_top_vector_share_batches(const WarmupRun::Sharpness& p, int deep_layers) {
  const int nb = static_cast<int>(p.block_mass_batches.size());
  if (deep_layers < 1 || nb <= deep_layers) return {};
  const size_t K = p.block_mass_batches.front().size();
  for (const auto& m : p.block_mass_batches)
    if (m.size() != K) return {};
  std::vector<double> deep(K, 0.0);
  for (int b = nb - deep_layers; b < nb; ++b)
    for (size_t k = 0; k < K; ++k) deep[k] += p.block_mass_batches[b][k];
  return deep;
}

ClaimCheck check_warmup_deep_curvature(const std::vector<WarmupRun>& runs, const WarmupCheckOptions& o,
                                       const WarmupArms& arms) {
  ClaimCheck c{"warmup", "warmup.deep_curvature",
               "It is the deep layers' curvature that crosses the stability bound: where the large batch without "
               "warmup has lambda_max * eta / 2 > 1 in the warmup window, the deep (FC) blocks hold a larger share of "
               "the top Hessian eigenvector (of its curvature) than their share of the parameters."};
  const int deep = o.deep_layers;
  c.numbers["arms"] = {{"large", arms.large}, {"warmup", arms.warmup}, {"small", arms.small}};
  c.numbers["window"] = o.window;
  c.numbers["deep_layers"] = deep;
  const WarmupRun* lb = find_run(runs, arms.large);
  if (!lb) {
    c.detail = "missing run (" + arms.large + ")";
    set_decision(c, Estimate{}, NAN, 0.0, Side::Greater, o.deep_curvature_margin, "missing runs");
    return c;
  }
  // Each arm at its own max over the window (reported; the large batch's decides below).
  for (const WarmupRun* r : {lb, find_run(runs, arms.warmup), find_run(runs, arms.small)}) {
    if (!r) continue;
    const auto [s, at] = max_sharpness(*r, o.window);
    nlohmann::json j = {{"points", r->sharpness.size()}, {"deep_parameter_share", jnum(deep_parameter_share(*r, deep))}};
    if (at >= 0) {
      const auto& p = r->sharpness[at];
      const double share = deep_top_vector_share(p, deep);
      double deep_block_max = NAN;  // the sharpest deep block's own lambda_max eta / 2 (per-layer curvature)
      const int nb = static_cast<int>(p.block_lambda.size());
      for (int b = std::max(0, nb - deep); b < nb; ++b) {
        const double bs = p.block_lambda[b] * p.lr / 2;
        if (std::isfinite(bs) && !(bs <= deep_block_max)) deep_block_max = bs;
      }
      j["max"] = jnum(s);
      j["max_iter"] = p.iter;
      j["exceeds_bound"] = s > 1.0;
      j["deep_share_top_vector"] = jnum(share);
      j["deep_share_top_vector_se"] = jnum(batch_mean_se(deep_top_vector_share_batches(p, deep)));
      j["deep_share_excess"] = jnum(share - deep_parameter_share(*r, deep));
      // lambda * mass_b = v_b' (H v)_b: the deep blocks' part of the top direction's curvature in
      // units of the bound, coupling terms v_b' H_bs v_s to the other blocks included (a block's own
      // curvature is its diagonal block's lambda, deep_block_sharpness_max).
      j["deep_part_of_sharpness"] = jnum(s * share);
      j["deep_block_sharpness_max"] = jnum(deep_block_max);
      j["deep_block_exceeds_bound"] = std::isfinite(deep_block_max) ? nlohmann::json(deep_block_max > 1.0) : nlohmann::json();
      j["blocks_at_max"] = blocks_at(*r, p);
    }
    c.numbers[r->name] = j;
  }
  // The large batch's points in the window beyond the bound, and the deep share there.
  const double param_share = deep_parameter_share(*lb, deep);
  const auto [s_max, at_max] = max_sharpness(*lb, o.window);
  std::vector<double> shares;
  std::vector<std::vector<double>> per_batch;  // [point][batch]
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : lb->sharpness) {
    const double s = p.lambda * p.lr / 2;
    if (p.iter > double(o.window) || !(s > 1.0)) continue;
    shares.push_back(deep_top_vector_share(p, deep));
    per_batch.push_back(deep_top_vector_share_batches(p, deep));
    points.push_back({{"iter", p.iter}, {"sharpness", jnum(s)}, {"exceeds_momentum_bound", s > 1.0 + lb->momentum},
                      {"deep_share_top_vector", jnum(shares.back())},
                      {"deep_share_top_vector_se", jnum(batch_mean_se(per_batch.back()))}});
  }
  c.numbers["crossing_points"] = points;
  c.numbers["deep_parameter_share"] = jnum(param_share);
  // Per batch, the mean over the crossing points first (the points of one batch are correlated:
  // the same images, warm-started vectors), then the se over the batches.
  const double share = shares.empty() ? NAN : mean_of(shares);
  double se = NAN;
  const size_t K = per_batch.empty() ? 0 : per_batch.front().size();
  bool same_batches = K > 0;
  for (const auto& v : per_batch) same_batches = same_batches && v.size() == K;
  if (same_batches) {
    std::vector<double> by_batch(K, 0.0);
    for (const auto& v : per_batch)
      for (size_t k = 0; k < K; ++k) by_batch[k] += v[k] / double(per_batch.size());
    se = batch_mean_se(by_batch);
  }
  c.numbers["deep_share_top_vector"] = jnum(share);
  std::string gate;
  if (!std::isfinite(param_share))
    gate = "no curvature blocks beyond the " + std::to_string(deep) + " deep ones in " + arms.large + "'s rows";
  else if (at_max < 0)
    gate = "no finite curvature measurement in the window (" + arms.large + ")";
  else if (shares.empty())
    gate = "the large batch never crosses 2/eta in the window (max lambda_max * eta / 2 = " + fmt(s_max) +
           " at iteration " + fmt(lb->sharpness[at_max].iter) + "): the premise failed";
  const double effect = share - param_share;
  // se over K batch means: t with K - 1 df (K is 2-4 in the presets; a normal quantile there would
  // overstate the precision several times).
  const int df = static_cast<int>(K) - 1;
  c.numbers["df"] = df;
  set_decision(c, t_estimate(effect, se, df, o.level), se, 0.0, Side::Greater, o.deep_curvature_margin, gate);
  if (gate.empty() && !std::isfinite(se))
    c.numbers["decision"]["reason"] =
        c.numbers["decision"]["reason"].get<std::string>() +
        "; no between-batch se of the deep share (rows without top_vector_mass_batches, written before they were "
        "recorded, or one curvature batch)";
  c.detail = arms.large + ": the deep blocks' share of the top eigenvector at the " + std::to_string(shares.size()) +
             " points of iterations 0.." + std::to_string(o.window) + " with lambda_max * eta / 2 > 1: " + fmt(share) +
             "; their share of the parameters: " + fmt(param_share) + "; effect = the difference";
  return c;
}

ClaimCheck check_fc_freeze(const std::vector<WarmupRun>& runs, double level, const WarmupArms& arms) {
  ClaimCheck c{"warmup", "warmup.fc_freeze",
               "Freezing the FC layers during the warmup window recovers much of the benefit of warmup: a large "
               "batch with the FC layers frozen ends with a higher test accuracy than without."};
  const WarmupRun* lb = find_run(runs, arms.large);
  const WarmupRun* lbw = find_run(runs, arms.warmup);
  const WarmupRun* fr = find_run(runs, arms.freeze);
  c.numbers["arms"] = {{"large", arms.large}, {"warmup", arms.warmup}, {"freeze", arms.freeze}};
  if (!lb || !lbw || !fr) {
    c.detail = "missing runs";
    set_decision(c, Estimate{}, NAN, 0.0, Side::Greater, 0.0, "missing runs");
    return c;
  }
  const double z = normal_quantile(0.5 + level / 2);
  auto se_of = [](const WarmupRun& r) { return binomial_se(r.final_test_acc, r.n_test); };
  auto diverged = [](const WarmupRun& r) {
    return r.status == RunStatus::Diverged || !std::isfinite(r.final_train_loss) || !std::isfinite(r.final_test_acc);
  };
  auto at_chance = [&](const WarmupRun& r) {
    if (!std::isfinite(r.n_test) || !std::isfinite(r.classes) || r.classes < 1 || !std::isfinite(r.final_test_acc))
      return false;
    const Interval err = wilson_interval(std::round((1.0 - r.final_test_acc) * r.n_test), r.n_test, level);
    const double chance = 1.0 / r.classes;
    return chance >= 1.0 - err.hi && chance <= 1.0 - err.lo;
  };
  for (const WarmupRun* r : {lb, lbw, fr})
    c.numbers[r->name] = {{"test_acc", jnum(r->final_test_acc)}, {"se", jnum(se_of(*r))},
                          {"train_loss", jnum(r->final_train_loss)}, {"status", r->status ? nlohmann::json(*r->status) : nlohmann::json("missing")},
                          {"n_test", jnum(r->n_test)}, {"diverged", diverged(*r)}, {"at_chance", at_chance(*r)}};
  c.numbers["large_batch_unstable"] = diverged(*lb) || at_chance(*lb);
  const double gain_w = lbw->final_test_acc - lb->final_test_acc, se_w = std::hypot(se_of(*lbw), se_of(*lb));
  const double effect = fr->final_test_acc - lb->final_test_acc, se = std::hypot(se_of(*fr), se_of(*lb));
  const double vs_w = fr->final_test_acc - lbw->final_test_acc, se_vw = std::hypot(se_of(*fr), se_of(*lbw));
  c.numbers["warmup_gain"] = {{"effect", jnum(gain_w)}, {"se", jnum(se_w)},
                              {"interval", {jnum(gain_w - z * se_w), jnum(gain_w + z * se_w)}}};
  c.numbers["freeze_minus_warmup"] = {{"effect", jnum(vs_w)}, {"se", jnum(se_vw)},
                                      {"interval", {jnum(vs_w - z * se_vw), jnum(vs_w + z * se_vw)}}};
  c.numbers["recovered_fraction"] = jnum(gain_w > 0 ? effect / gain_w : NAN);  // reported only
  std::string gate;
  for (const WarmupRun* r : {lbw, fr}) {
    if (!gate.empty()) break;
    if (diverged(*r)) gate = "the " + r->name + " run diverged (non-finite loss)";
    else if (at_chance(*r)) gate = "the " + r->name + " run ended at chance (" + fmt(r->final_test_acc) + ")";
  }
  if (gate.empty() && !(gain_w - z * se_w > 0))
    gate = "warmup's own gain over the large batch (" + fmt(gain_w) + " +- " + fmt(z * se_w) + ") is not significant";
  set_decision(c, normal_estimate(effect, se, level), se, 0.0, Side::Greater, 0.0, gate);
  mark_between_runs(c, "the large-batch runs with and without FC freezing");
  c.detail = "test accuracy: " + arms.large + " " + fmt(lb->final_test_acc) + ", " + arms.warmup + " " +
             fmt(lbw->final_test_acc) + ", " + arms.freeze + " " + fmt(fr->final_test_acc) +
             "; effect = freeze - large batch";
  return c;
}

}  // namespace closerlook
