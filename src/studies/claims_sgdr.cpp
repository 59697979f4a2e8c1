#include "studies/claims_sgdr.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "surface/profile.h"

namespace closerlook {

using namespace claim_util;

double relative_barrier(const std::vector<double>& t, const std::vector<double>& v) {
  if (v.size() < 2 || t.size() != v.size()) return NAN;
  const double b = barrier_height(t, v);
  const double scale = 0.5 * (v.front() + v.back());
  return std::isfinite(b) && std::isfinite(scale) && scale > 0 ? b / scale : NAN;
}

PairProfile line_in_place_of_curve(PairProfile p) {
  p.curve_train_loss = p.line_train_loss;
  p.curve_test_err = p.line_test_err;
  return p;
}

ErrBarrier test_err_barrier(const std::vector<double>& t, const std::vector<double>& e, double n_test) {
  ErrBarrier r;
  if (e.size() < 3 || t.size() != e.size() || !finite_all(e)) return r;
  const double ta = t.front(), tb = t.back(), ea = e.front(), eb = e.back();
  double best = -INFINITY, se2 = NAN;
  for (size_t i = 1; i + 1 < e.size(); ++i) {
    const double s = (t[i] - ta) / (tb - ta);
    const double rise = e[i] - ((1 - s) * ea + s * eb);
    if (rise > best) {
      best = rise;
      se2 = (e[i] * (1 - e[i]) + (1 - s) * (1 - s) * ea * (1 - ea) + s * s * eb * (1 - eb)) / n_test;
    }
  }
  r.barrier = barrier_height(t, e);
  r.se = std::isfinite(n_test) && n_test > 0 ? std::sqrt(se2) : NAN;
  return r;
}

namespace {

// Mean of per-pair differences with the pairs as replicates: t_{K-1} interval, se = sd / sqrt(K).
Estimate pairs_estimate(const std::vector<double>& d, double level, double& se) {
  const int K = static_cast<int>(d.size());
  se = NAN;
  if (K < 2) {
    Estimate e = normal_estimate(K ? d[0] : NAN, NAN, level);
    e.method = "one snapshot pair, no within-run error";
    return e;
  }
  const double m = mean_of(d);
  double var = 0;
  for (double x : d) var += (x - m) * (x - m);
  se = std::sqrt(var / (K - 1) / K);
  Estimate e;
  e.effect = m;
  e.level = level;
  const double q = t_quantile(0.5 + level / 2, K - 1);
  e.interval = {m - q * se, m + q * se};
  e.method = "t over " + std::to_string(K) + " snapshot pairs (pairs as replicates)";
  return e;
}

const PairProfile* find_pair(const std::vector<PairProfile>& v, const std::string& name) {
  for (const auto& p : v)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace

ClaimCheck check_sgdr_line_barrier(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th) {
  ClaimCheck c{"sgdr", "sgdr.line_barrier",
          "SGDR moves over barriers: the straight line between consecutive SGDR snapshots has a train-loss barrier."};
  int with_barrier = 0, valid = 0;
  double smallest = INFINITY;
  for (const auto& p : sgdr) {
    const double r = relative_barrier(p.t, p.line_train_loss);
    if (!std::isfinite(r)) continue;
    ++valid;
    c.numbers[p.name] = {{"line_barrier_train_loss", barrier_height(p.t, p.line_train_loss)},
                         {"line_barrier_rel", r},
                         {"endpoint_mean_train_loss", 0.5 * (p.line_train_loss.front() + p.line_train_loss.back())},
                         {"line_barrier_test_err", jnum(test_err_barrier(p.t, p.line_test_err, p.n_test).barrier)}};
    if (r > th.min_line_barrier) ++with_barrier;
    smallest = std::min(smallest, r);
  }
  c.numbers["threshold_rel"] = th.min_line_barrier;
  if (valid == 0) {
    c.detail = "no finite straight-line profiles between snapshots";
    return c;
  }
  // Effect: the smallest relative line barrier over the pairs (every pair must have one), against
  // the threshold. No within-run error of a train-loss barrier is known: one seed is inconclusive.
  set_decision(c, normal_estimate(smallest, NAN, th.level), NAN, th.min_line_barrier, Side::Greater);
  c.detail = std::to_string(with_barrier) + " of " + std::to_string(valid) +
             " snapshot pairs have a straight-line train-loss barrier above the threshold (relative to the endpoints' "
             "mean train loss); effect = the smallest";
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
    const double rl = relative_barrier(p.t, p.line_train_loss);
    const bool has_barrier = rl > th.min_line_barrier;
    const double fraction = has_barrier ? bc / bl : NAN;
    const bool ok = has_barrier && fraction <= th.max_curve_fraction;
    c.numbers[p.name] = {{"line_barrier_train_loss", bl}, {"curve_barrier_train_loss", bc},
                         {"line_barrier_rel", jnum(rl)},  {"line_has_barrier", has_barrier},
                         {"curve_fraction", jnum(fraction)}, {"connected", ok}};
    if (!has_barrier) continue;  // nothing to get around: this pair says nothing about the claim
    ++barriers;
    if (ok) ++connected;
    worst_fraction = std::max(worst_fraction, fraction);
  }
  c.numbers["threshold_rel"] = th.min_line_barrier;
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
    const double r = relative_barrier(p.t, p.line_train_loss);
    if (!std::isfinite(r)) continue;
    ++valid;
    c.numbers[p.name] = {{"line_barrier_train_loss", barrier_height(p.t, p.line_train_loss)}, {"line_barrier_rel", r}};
    if (r <= th.min_line_barrier) ++clean;
    largest = std::max(largest, r);
  }
  c.numbers["threshold_rel"] = th.min_line_barrier;
  if (valid == 0) {
    c.detail = "no straight-line profiles between SGD snapshots";
    return c;
  }
  // Effect: the largest relative SGD line barrier, claimed below the threshold.
  set_decision(c, normal_estimate(largest, NAN, th.level), NAN, th.min_line_barrier, Side::Less);
  c.detail = std::to_string(clean) + " of " + std::to_string(valid) + " SGD snapshot pairs have no barrier; effect = the largest";
  return c;
}

ClaimCheck check_sgdr_vs_sgd_barrier(const std::vector<PairProfile>& sgdr, const std::vector<PairProfile>& sgd,
                                     const SgdrThresholds& th) {
  ClaimCheck c{"sgdr", "sgdr.sgdr_vs_sgd_barrier",
          "SGDR moves over barriers where step-decay SGD does not: the straight-line train-loss barrier between "
          "SGDR snapshots exceeds the one between SGD snapshots at the same epochs (relative to the loss scale)."};
  std::vector<double> d;
  for (const auto& p : sgdr) {
    const PairProfile* q = find_pair(sgd, p.name);
    if (!q) continue;
    const double rs = relative_barrier(p.t, p.line_train_loss), rq = relative_barrier(q->t, q->line_train_loss);
    c.numbers[p.name] = {{"sgdr_line_barrier_rel", jnum(rs)}, {"sgd_line_barrier_rel", jnum(rq)},
                         {"difference", jnum(rs - rq)}};
    if (!std::isfinite(rs) || !std::isfinite(rq)) {
      c.numbers[p.name]["status"] = "non-finite profile";
      continue;
    }
    d.push_back(rs - rq);
  }
  c.numbers["pairs"] = static_cast<int>(d.size());
  if (d.empty()) {
    c.detail = "no snapshot pair with finite straight lines in both runs";
    return c;
  }
  double se = NAN;
  const Estimate e = pairs_estimate(d, th.level, se);
  set_decision(c, e, se, 0.0, Side::Greater, th.contrast_margin);
  mark_between_runs(c, "the SGDR and step-decay SGD runs");
  c.detail = "mean over " + std::to_string(d.size()) +
             " snapshot pairs of (SGDR - SGD) straight-line train-loss barrier, each relative to its endpoints' mean "
             "train loss";
  return c;
}

ClaimCheck check_sgdr_vs_sgd_barrier_err(const std::vector<PairProfile>& sgdr, const std::vector<PairProfile>& sgd,
                                         const SgdrThresholds& th) {
  ClaimCheck c{"sgdr", "sgdr.sgdr_vs_sgd_barrier_err",
          "SGDR moves over barriers where step-decay SGD does not, in test error: the straight-line test-error "
          "barrier between SGDR snapshots exceeds the one between SGD snapshots at the same epochs."};
  double sum = 0, var = 0;
  int K = 0;
  bool se_known = true;
  for (const auto& p : sgdr) {
    const PairProfile* q = find_pair(sgd, p.name);
    if (!q) continue;
    const ErrBarrier bs = test_err_barrier(p.t, p.line_test_err, p.n_test);
    const ErrBarrier bq = test_err_barrier(q->t, q->line_test_err, q->n_test);
    c.numbers[p.name] = {{"sgdr_line_barrier_test_err", jnum(bs.barrier)}, {"sgdr_se", jnum(bs.se)},
                         {"sgd_line_barrier_test_err", jnum(bq.barrier)},  {"sgd_se", jnum(bq.se)},
                         {"difference", jnum(bs.barrier - bq.barrier)},    {"n_test", jnum(p.n_test)}};
    if (!std::isfinite(bs.barrier) || !std::isfinite(bq.barrier)) continue;
    ++K;
    sum += bs.barrier - bq.barrier;
    var += bs.se * bs.se + bq.se * bq.se;
    se_known = se_known && std::isfinite(bs.se) && std::isfinite(bq.se);
  }
  c.numbers["pairs"] = K;
  if (K == 0) {
    c.detail = "no snapshot pair with finite straight-line test errors (>= 3 points) in both runs";
    return c;
  }
  const double se = se_known ? std::sqrt(var) / K : NAN;
  set_decision(c, normal_estimate(sum / K, se, th.level), se, 0.0, Side::Greater, th.contrast_margin_err);
  mark_between_runs(c, "the SGDR and step-decay SGD runs");
  c.detail = "mean over " + std::to_string(K) +
             " snapshot pairs of (SGDR - SGD) straight-line test-error barrier, binomial error on the test set";
  return c;
}

ClaimCheck check_curve_overfits(const std::vector<PairProfile>& sgdr, const SgdrThresholds& th) {
  ClaimCheck c{"sgdr", "sgdr.curve_overfits",
          "Points on the connecting curve reach lower train loss than the SGDR iterates but do not generalise as well."};
  int valid = 0, premise = 0;
  double sum = 0, var = 0;
  bool se_known = true;
  for (const auto& p : sgdr) {
    if (p.curve_train_loss.size() < 3 || !finite_all(p.curve_train_loss) || !finite_all(p.curve_test_err) ||
        p.curve_test_err.size() != p.curve_train_loss.size())
      continue;
    ++valid;
    const double end_loss = std::min(p.curve_train_loss.front(), p.curve_train_loss.back());
    const double end_err = std::min(p.curve_test_err.front(), p.curve_test_err.back());
    // The point of lowest train loss on the curve (interior only).
    size_t best = 1;
    for (size_t i = 1; i + 1 < p.curve_train_loss.size(); ++i)
      if (p.curve_train_loss[i] < p.curve_train_loss[best]) best = i;
    const bool lower_loss = p.curve_train_loss[best] < end_loss;
    const double e = p.curve_test_err[best];
    const double d = e - end_err;
    const double se = std::sqrt(e * (1 - e) / p.n_test + end_err * (1 - end_err) / p.n_test);
    c.numbers[p.name] = {{"endpoint_min_train_loss", end_loss}, {"curve_min_train_loss", p.curve_train_loss[best]},
                         {"endpoint_min_test_err", end_err},    {"test_err_at_curve_min", e},
                         {"t_at_curve_min", p.t[best]},         {"lower_train_loss", lower_loss},
                         {"test_err_difference", d},            {"se", jnum(se)},
                         {"n_test", jnum(p.n_test)}};
    if (!lower_loss) continue;
    ++premise;
    sum += d;
    var += se * se;
    se_known = se_known && std::isfinite(se);
  }
  c.numbers["overfit_margin"] = th.overfit_margin;
  if (valid == 0) {
    c.detail = "no trained curves";
    return c;
  }
  const double se = premise && se_known ? std::sqrt(var) / premise : NAN;
  set_decision(c, normal_estimate(premise ? sum / premise : NAN, se, th.level), se, 0.0, Side::Greater,
               th.overfit_margin,
               premise ? "" : "no curve has an interior point with lower train loss than its better endpoint (the premise)");
  c.detail = std::to_string(premise) + " of " + std::to_string(valid) +
             " curves have an interior point with lower train loss than the endpoints; effect = mean test-error "
             "difference there minus the better endpoint's";
  return c;
}

double bilinear(const std::vector<double>& xs, const std::vector<double>& ys,
                const std::vector<std::vector<double>>& grid, double a, double b) {
  auto locate = [](const std::vector<double>& v, double x, size_t& i, double& f) {
    if (v.size() < 2) {
      i = 0, f = 0;
      return;
    }
    x = std::clamp(x, v.front(), v.back());
    i = std::min<size_t>(v.size() - 2, std::upper_bound(v.begin(), v.end(), x) - v.begin() - 1);
    f = (x - v[i]) / (v[i + 1] - v[i]);
  };
  size_t i, j;
  double fa, fb;
  locate(xs, a, i, fa);
  locate(ys, b, j, fb);
  const size_t i1 = std::min(i + 1, xs.size() - 1), j1 = std::min(j + 1, ys.size() - 1);
  return (1 - fa) * (1 - fb) * grid[i][j] + fa * (1 - fb) * grid[i1][j] + (1 - fa) * fb * grid[i][j1] +
         fa * fb * grid[i1][j1];
}

ClaimCheck check_plane_trajectory(const PlaneTrajectory& p, const SgdrThresholds& th) {
  ClaimCheck c{"sgdr", "sgdr.plane_trajectory",
          "On the plane through two SGDR snapshots and their curve's bend, the SGDR trajectory between the snapshots "
          "crosses higher train loss than the curve (it goes over a barrier rather than along the low-loss path)."};
  c.numbers["pair"] = p.name;
  c.numbers["plane_max_off"] = th.plane_max_off;
  const size_t n = p.traj_alpha.size();
  const bool grid_ok = p.alphas.size() >= 2 && p.betas.size() >= 2 && p.tr_nll.size() == p.alphas.size() &&
                       std::all_of(p.tr_nll.begin(), p.tr_nll.end(), [&](const auto& r) {
                         return r.size() == p.betas.size() && finite_all(r);
                       });
  if (!grid_ok || n < 2 || p.traj_beta.size() != n || p.traj_off.size() != n || p.curve_train_loss.size() < 2 ||
      !finite_all(p.curve_train_loss) || !(p.dx > 0)) {
    c.detail = "no complete plane, projected trajectory or curve profile";
    return c;
  }
  // The polyline through the projected iterates, sampled at steps of at most half a grid cell.
  const double ca = (p.alphas.back() - p.alphas.front()) / double(p.alphas.size() - 1);
  const double cb = (p.betas.back() - p.betas.front()) / double(p.betas.size() - 1);
  double T = -INFINITY, T_alpha = NAN, T_beta = NAN;
  std::vector<double> at_iterates;
  for (size_t k = 0; k < n; ++k) {
    at_iterates.push_back(bilinear(p.alphas, p.betas, p.tr_nll, p.traj_alpha[k], p.traj_beta[k]));
    if (k + 1 == n) break;
    const double da = p.traj_alpha[k + 1] - p.traj_alpha[k], db = p.traj_beta[k + 1] - p.traj_beta[k];
    const int steps = std::max(1, static_cast<int>(std::ceil(2.0 * std::max(std::fabs(da) / ca, std::fabs(db) / cb))));
    for (int s = 0; s <= steps; ++s) {
      const double f = double(s) / steps, a = p.traj_alpha[k] + f * da, b = p.traj_beta[k] + f * db;
      const double v = bilinear(p.alphas, p.betas, p.tr_nll, a, b);
      if (v > T) T = v, T_alpha = a, T_beta = b;
    }
  }
  const double C = max_of(p.curve_train_loss);
  const double L = 0.5 * (p.curve_train_loss.front() + p.curve_train_loss.back());
  double off = 0;  // iterates strictly between the snapshots
  for (size_t k = 1; k + 1 < n; ++k) off = std::max(off, p.traj_off[k] / p.dx);
  const double effect = L > 0 ? (T - C) / L : NAN;
  // The straight line w_a -> w_b on the grid (beta = 0), for contrast with its exact profile.
  double line_on_plane = -INFINITY;
  const int line_steps = static_cast<int>(std::ceil(2.0 / ca));
  for (int s = 0; s <= line_steps; ++s)
    line_on_plane = std::max(line_on_plane, bilinear(p.alphas, p.betas, p.tr_nll, double(s) / line_steps, 0.0));
  c.numbers["trajectory_max_train_loss"] = T;
  c.numbers["trajectory_max_at"] = {{"alpha", T_alpha}, {"beta", T_beta}};
  c.numbers["trajectory_train_loss_at_iterates"] = at_iterates;
  c.numbers["iterates"] = p.traj_names;
  c.numbers["curve_max_train_loss"] = C;
  c.numbers["endpoint_mean_train_loss"] = L;
  c.numbers["line_max_train_loss_on_plane"] = line_on_plane;
  c.numbers["max_off_plane_rel"] = off;
  c.numbers["snapshot_distance"] = p.dx;
  const bool far = off > th.plane_max_off;
  char buf[200];
  std::snprintf(buf, sizeof(buf),
                "far off-plane: an iterate between the snapshots lies %.3g x ||w_b - w_a|| off the plane (> %.3g), so "
                "the projected trajectory is weak evidence",
                off, th.plane_max_off);
  set_decision(c, normal_estimate(effect, NAN, th.level), NAN, 0.0, Side::Greater, 0.0, far ? buf : "");
  c.detail = "max train loss on the plane along the projected SGDR trajectory (" + std::to_string(n) +
             " iterates) minus the max along the curve, relative to the snapshots' mean train loss; off-plane " +
             (far ? "distance too large (weak evidence)" : "distance within the preset limit");
  return c;
}

}  // namespace closerlook
