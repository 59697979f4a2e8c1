#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace closerlook {

const std::vector<std::string>& schedule_kinds() {
  static const std::vector<std::string> k = {"constant", "step", "multistep", "linear", "cosine", "sgdr", "garipov"};
  return k;
}

double garipov_factor(double a) {
  if (a <= 0.5) return 1.0;
  if (a <= 0.9) return 1.0 - (a - 0.5) / 0.4 * 0.99;
  return 0.01;
}

double sgdr_lr(int64_t iter, int64_t ipe, int64_t t0, int64_t tmult, double eta_min, double eta_max) {
  // Integer bookkeeping of cycle boundaries (in iterations) keeps restarts exact.
  int64_t start = 0, len = t0 * ipe;
  while (iter >= start + len) {
    start += len;
    len *= tmult;
  }
  const double frac = double(iter - start) / double(len);
  return eta_min + 0.5 * (eta_max - eta_min) * (1.0 + std::cos(M_PI * frac));
}

std::vector<int64_t> sgdr_cycle_end_epochs(int64_t t0, int64_t tmult, int64_t max_epoch) {
  std::vector<int64_t> ends;
  int64_t end = 0, len = t0;
  while (len > 0 && end + len <= max_epoch) {
    end += len;
    ends.push_back(end);
    len *= tmult;
  }
  return ends;
}

double base_schedule_lr(const ScheduleSpec& s, int64_t iter) {
  const int64_t ipe = std::max<int64_t>(1, s.iters_per_epoch);
  const int64_t total = std::max<int64_t>(1, s.total_iters());
  const std::string& k = s.kind;
  if (k == "constant") return s.lr;
  if (k == "step") {
    const int64_t period = std::max<int64_t>(1, s.step_epochs) * ipe;
    return s.lr * std::pow(s.gamma, double(iter / period));
  }
  if (k == "multistep") {
    int n = 0;
    for (int64_t m : s.milestones)
      if (iter >= m * ipe) ++n;
    return s.lr * std::pow(s.gamma, double(n));
  }
  if (k == "linear") {
    const double a = std::min(1.0, double(iter) / double(total));
    return s.lr + (s.final_lr - s.lr) * a;
  }
  if (k == "cosine") {
    const double a = std::min(1.0, double(iter) / double(total));
    return s.eta_min + 0.5 * (s.lr - s.eta_min) * (1.0 + std::cos(M_PI * a));
  }
  if (k == "sgdr") return sgdr_lr(iter, ipe, s.sgdr_t0, s.sgdr_tmult, s.eta_min, s.lr);
  if (k == "garipov") return s.lr * garipov_factor(double(iter) / double(total));
  throw_bad_input("unknown lr schedule '" + k + "'");
}

double schedule_lr(const ScheduleSpec& s, int64_t iter) {
  double lr = base_schedule_lr(s, iter);
  if (s.warmup_iters > 0 && iter < s.warmup_iters) lr *= double(iter + 1) / double(s.warmup_iters);
  return lr;
}

}  // namespace closerlook
