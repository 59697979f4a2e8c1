#include "train/train_spec.h"

#include <limits>
#include <map>

#include "core/error.h"

namespace closerlook {

namespace {
constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max() / 4;
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

TrainSpec read_train_spec(ConfigReader& r) {
  TrainSpec t;
  t.epochs = r.get_int("epochs", t.epochs, 1, 100000);
  t.batch_size = r.get_int("batch_size", t.batch_size, 1, 1 << 24);
  t.drop_last = r.get_bool("drop_last", t.drop_last);

  t.optimizer = r.get_enum("optimizer", t.optimizer, {"sgd", "adam"});
  t.lr = r.get_double("lr", t.lr, 0.0, kInf);
  t.weight_decay = r.get_double("weight_decay", t.weight_decay, 0.0, kInf);
  if (t.optimizer == "sgd") {
    t.momentum = r.get_double("momentum", t.momentum, 0.0, 1.0);
    t.nesterov = r.get_bool("nesterov", t.nesterov);
    if (t.nesterov && t.momentum <= 0.0)
      throw_bad_input(r.source() + ": key '" + r.path("nesterov") + "': Nesterov needs momentum > 0");
  } else {
    t.adam_beta1 = r.get_double("adam_beta1", t.adam_beta1, 0.0, 0.999999);
    t.adam_beta2 = r.get_double("adam_beta2", t.adam_beta2, 0.0, 0.999999999);
    t.adam_eps = r.get_double("adam_eps", t.adam_eps, 1e-300, 1.0);
  }

  t.schedule = r.get_enum("schedule", t.schedule, schedule_kinds());
  // Which schedule parameters each kind uses; a parameter of another kind is a mistake worth naming.
  static const std::map<std::string, std::vector<std::string>> uses = {
      {"constant", {}},
      {"step", {"gamma", "step_epochs"}},
      {"multistep", {"gamma", "milestones"}},
      {"linear", {"final_lr"}},
      {"cosine", {"eta_min"}},
      {"sgdr", {"eta_min", "sgdr_t0", "sgdr_tmult"}},
      {"garipov", {}}};
  const auto& used = uses.at(t.schedule);
  auto in_use = [&](const std::string& k) { return std::find(used.begin(), used.end(), k) != used.end(); };
  for (const char* k : {"gamma", "step_epochs", "milestones", "final_lr", "eta_min", "sgdr_t0", "sgdr_tmult"})
    if (r.has(k) && !in_use(k))
      throw_bad_input(r.source() + ": key '" + r.path(k) + "': not used by schedule '" + t.schedule + "'");
  if (in_use("gamma")) t.gamma = r.get_double("gamma", t.gamma, 0.0, 1.0);
  if (in_use("step_epochs")) t.step_epochs = r.get_int("step_epochs", t.step_epochs, 1, 100000);
  if (in_use("milestones")) {
    t.milestones = r.get_int_list("milestones", t.milestones, 1, 100000);
    for (size_t i = 1; i < t.milestones.size(); ++i)
      if (t.milestones[i] <= t.milestones[i - 1])
        throw_bad_input(r.source() + ": key '" + r.path("milestones") + "': must be strictly increasing");
  }
  if (in_use("final_lr")) t.final_lr = r.get_double("final_lr", t.final_lr, 0.0, kInf);
  if (in_use("eta_min")) {
    t.eta_min = r.get_double("eta_min", t.eta_min, 0.0, kInf);
    if (t.eta_min > t.lr)
      throw_bad_input(r.source() + ": key '" + r.path("eta_min") + "': must not exceed lr (" + std::to_string(t.lr) + ")");
  }
  if (in_use("sgdr_t0")) t.sgdr_t0 = r.get_int("sgdr_t0", t.sgdr_t0, 1, 100000);
  if (in_use("sgdr_tmult")) t.sgdr_tmult = r.get_int("sgdr_tmult", t.sgdr_tmult, 1, 1000);
  t.warmup_iters = r.get_int("warmup_iters", t.warmup_iters, 0, kMaxInt);

  t.freeze_prefixes = r.get_string_list("freeze_prefixes", t.freeze_prefixes);
  t.freeze_iters = r.get_int("freeze_iters", t.freeze_iters, 0, kMaxInt);
  if (t.freeze_iters > 0 && t.freeze_prefixes.empty())
    throw_bad_input(r.source() + ": key '" + r.path("freeze_iters") + "': set 'freeze_prefixes' too");
  for (const auto& p : t.freeze_prefixes)
    if (p.empty()) throw_bad_input(r.source() + ": key '" + r.path("freeze_prefixes") + "': empty prefix");

  t.eval_train_subset = r.get_int("eval_train_subset", t.eval_train_subset, 0, kMaxInt);
  t.eval_batch = r.get_int("eval_batch", t.eval_batch, 1, 1 << 24);

  t.checkpoint_epochs = r.get_int_list("checkpoint_epochs", t.checkpoint_epochs, 0, t.epochs);
  t.checkpoint_iters = r.get_int_list("checkpoint_iters", t.checkpoint_iters, 0, kMaxInt);
  t.checkpoint_every = r.get_int("checkpoint_every", t.checkpoint_every, 0, 100000);
  t.checkpoint_sgdr_cycles = r.get_bool("checkpoint_sgdr_cycles", t.checkpoint_sgdr_cycles);
  if (t.checkpoint_sgdr_cycles && t.schedule != "sgdr")
    throw_bad_input(r.source() + ": key '" + r.path("checkpoint_sgdr_cycles") + "': needs schedule = \"sgdr\"");

  t.curvature_every = r.get_int("curvature_every", t.curvature_every, 0, kMaxInt);
  t.curvature_iters = r.get_int_list("curvature_iters", t.curvature_iters, 0, kMaxInt);
  t.curvature_examples = r.get_int("curvature_examples", t.curvature_examples, 1, 1 << 24);
  t.curvature_batch = r.get_int("curvature_batch", t.curvature_batch, 1, 1 << 24);
  t.curvature_steps = r.get_int("curvature_steps", t.curvature_steps, 1, 1000);
  t.curvature_layer_steps = r.get_int("curvature_layer_steps", t.curvature_layer_steps, 1, 1000);
  t.curvature_per_layer = r.get_bool("curvature_per_layer", t.curvature_per_layer);
  t.curvature_bn = r.get_enum("curvature_bn", t.curvature_bn, {"train", "eval"});
  t.curvature_trace_samples = r.get_int("curvature_trace_samples", t.curvature_trace_samples, 0, 10000);
  t.curvature_warm_start = r.get_bool("curvature_warm_start", t.curvature_warm_start);

  t.init_from = r.get_string("init_from", t.init_from);
  t.teacher = r.get_string("teacher", t.teacher);
  t.kd_temperature = r.get_double("kd_temperature", t.kd_temperature, 1e-6, 1e6);
  t.kd_alpha = r.get_double("kd_alpha", t.kd_alpha, 0.0, 1.0);
  t.precision = r.get_enum("precision", t.precision, {"float32", "bf16"});
  return t;
}

ScheduleSpec schedule_spec(const TrainSpec& t, int64_t iters_per_epoch) {
  ScheduleSpec s;
  static_cast<ScheduleParams&>(s) = t;
  s.kind = t.schedule;
  s.lr = t.lr;
  s.epochs = t.epochs;
  s.iters_per_epoch = iters_per_epoch;
  return s;
}

}  // namespace closerlook
