#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <unistd.h>

#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/progress.h"
#include "train/curvature.h"
#include "train/kd_loss.h"
#include "train/optimizer.h"
#include "train/precision.h"
#include "train/run_dir.h"
#include "train/schedule.h"
#include "train/train_state.h"

namespace fs = std::filesystem;

namespace closerlook {

namespace {

// Frozen parameters get requires_grad = false for the freeze window: no gradient, so the
// optimizer skips them entirely (bit-identical weights, no weight decay or momentum state).
// The caller's network gets requires_grad back whatever happens.
class FreezeControl {
 public:
  explicit FreezeControl(std::vector<torch::Tensor> params) : params_(std::move(params)) {}
  ~FreezeControl() { set(false); }
  void set(bool frozen) {
    if (frozen == frozen_) return;
    for (auto& p : params_) p.requires_grad_(!frozen);
    frozen_ = frozen;
  }

 private:
  std::vector<torch::Tensor> params_;
  bool frozen_ = false;
};

nlohmann::json eval_json(const EvalResult& r) { return {{"loss", r.loss}, {"accuracy", r.accuracy}, {"n", r.n}}; }
EvalResult eval_from_json(const nlohmann::json& j) {
  EvalResult r;
  if (j.is_object()) {
    r.loss = j.value("loss", 0.0);
    r.accuracy = j.value("accuracy", 0.0);
    r.n = j.value("n", int64_t(0));
  }
  return r;
}

}  // namespace

namespace {
// summary.json's numbers (key, member), once for writing and reading; status, checkpoints and
// diverged_iter (only when >= 0) around them.
template <class S, class F>
void summary_numbers(S& s, F&& f) {
  f("epoch", s.epoch);
  f("iter", s.iter);
  f("train_loss", s.train.loss);
  f("train_acc", s.train.accuracy);
  f("test_loss", s.test.loss);
  f("test_acc", s.test.accuracy);
  f("seconds", s.seconds);
}
}  // namespace

nlohmann::json TrainSummary::to_json() const {
  nlohmann::json ck = nlohmann::json::array();
  for (const auto& c : checkpoints) {
    nlohmann::json cj = c;
    cj["path"] = "checkpoints/" + c.tag + ".pt";
    ck.push_back(std::move(cj));
  }
  nlohmann::json j = {{"status", status}, {"checkpoints", ck}};
  summary_numbers(*this, [&](const char* key, const auto& v) { j[key] = v; });
  if (diverged_iter >= 0) j["diverged_iter"] = diverged_iter;
  return j;
}

TrainSummary TrainSummary::from_json(const nlohmann::json& j, const std::string& where) {
  TrainSummary s;
  try {
    const auto status = parse_run_status(j.at("status").get<std::string>());
    if (!status) throw_bad_input(where + ": malformed summary (unknown status " + j["status"].dump() + ")");
    s.status = *status;
    summary_numbers(s, [&](const char* key, auto& v) { v = j.value(key, std::decay_t<decltype(v)>{}); });
    s.diverged_iter = j.value("diverged_iter", int64_t(-1));
    for (const auto& c : j.value("checkpoints", nlohmann::json::array())) s.checkpoints.push_back(c.get<CheckpointRecord>());
  } catch (const nlohmann::json::exception& e) {
    throw_bad_input(where + ": malformed summary (" + e.what() + ")");
  }
  return s;
}

std::vector<std::string> frozen_parameter_names(Network& net, const std::vector<std::string>& prefixes) {
  std::vector<std::string> names;
  auto params = net.named_parameters();
  for (const auto& pre : prefixes) {
    bool any = false;
    for (const auto& [name, p] : params)
      if (name.rfind(pre, 0) == 0) {
        any = true;
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      }
    if (!any) {
      std::string list;
      for (const auto& np : params) list += (list.empty() ? "" : ", ") + np.first;
      throw_bad_input("freeze prefix '" + pre + "' matches no parameter of " + net.arch() + " (parameters: " + list + ")");
    }
  }
  if (!params.empty() && names.size() == params.size())
    throw_bad_input("freeze prefixes match every parameter of " + net.arch() + ": nothing would train");
  return names;
}

namespace {

// A plain network as a TrainTarget: the optimizer and schedule of the [train] table, freezing,
// KD, end-of-epoch evaluation on the train/test sets, checkpoints <tag>.pt + <tag>.state.pt.
class NetworkTarget : public TrainTarget {
 public:
  NetworkTarget(const TrainInputs& in, const RunOptions& opts, std::string out_dir = "")
      : in_(in), net_(*in.net), t_(in.spec), dev_(opts.device), quiet_(opts.quiet), out_dir_(std::move(out_dir)), tag_states_(opts.tag_states) {
    ipe_ = in.batches->num_batches();
    CL_CHECK_INPUT(ipe_ > 0, "no training batches: the training set is smaller than batch_size " +
                                 std::to_string(t_.batch_size) + " with drop_last");
    sched_ = schedule_spec(t_, ipe_);
    autocast_ = autocast_dtype(t_.precision, "train.precision");
    net_.to(dev_);
    net_.train(true);
    // Evaluation sets on the training device once (shared, not copied, when already there), so
    // the end-of-epoch evaluations move no data.
    train_eval_ = dataset_on(*in.train_eval, dev_, t_.eval_train_subset);
    test_eval_ = dataset_on(*in.test, dev_);
    if (in.teacher) {
      in.teacher->to(dev_);
      in.teacher->train(false);
    }
    // Param group 0: always trained; group 1: frozen for the first freeze_iters iterations.
    std::set<std::string> frozen_names;
    if (t_.freeze_iters > 0) {
      auto names = frozen_parameter_names(net_, t_.freeze_prefixes);
      frozen_names.insert(names.begin(), names.end());
    }
    std::vector<torch::Tensor> trained;
    for (auto& [name, p] : net_.named_parameters()) {
      (frozen_names.count(name) ? frozen_ : trained).push_back(p);
      all_params_.push_back(p);
    }
    optimizer_ = make_optimizer(t_, {trained, frozen_});
    freeze_ = std::make_unique<FreezeControl>(frozen_);
    if (t_.schedule == "sgdr") cycle_ends_ = sgdr_cycle_end_epochs(t_.sgdr_t0, t_.sgdr_tmult, t_.epochs);
    if (!out_dir_.empty() && (t_.curvature_every > 0 || !t_.curvature_iters.empty())) {
      CurvatureTrackOptions co;
      co.every = t_.curvature_every;
      co.iters = t_.curvature_iters;
      co.examples = t_.curvature_examples;
      co.batch_size = t_.curvature_batch;
      co.steps = static_cast<int>(t_.curvature_steps);
      co.layer_steps = static_cast<int>(t_.curvature_layer_steps);
      co.per_layer = t_.curvature_per_layer;
      co.bn_train = t_.curvature_bn == "train";
      co.trace_samples = static_cast<int>(t_.curvature_trace_samples);
      co.warm_start = t_.curvature_warm_start;
      co.seed = 0;  // the same start vector in every run: equal weights give equal rows
      curv_opts_ = co;
      curvature_ = std::make_unique<CurvatureTracker>(co, *in.train_eval, dev_);
    }
  }

  const EvalResult& train_result() const { return train_; }
  const EvalResult& test_result() const { return test_; }

  int64_t batches_per_epoch() const override { return ipe_; }
  Network& network() override { return net_; }
  std::vector<torch::Tensor> parameters() override { return all_params_; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }

  std::string curvature_path() const { return (fs::path(out_dir_) / "curvature.jsonl").string(); }
  // curvature.jsonl: one row per measured iteration (train/curvature.h), written by rank 0.
  void observe(int64_t iter) override {
    if (!curvature_ || !curv_opts_.due(iter)) return;
    nlohmann::json row = curvature_->measure(net_, iter, schedule_lr(sched_, iter));
    row["epoch"] = double(iter) / double(ipe_);
    row["momentum"] = t_.optimizer == "sgd" ? t_.momentum : 0.0;
    append_jsonl(curvature_path(), row);
  }

  void fresh_start(int rank) override {
    if (rank == 0 && curvature_ && file_exists(curvature_path())) fs::remove(curvature_path());
    // Dropout stream; the weights were initialised by the caller. Data-parallel ranks > 0 draw
    // their own masks (rank 0 keeps the single-process stream).
    torch::manual_seed(in_.seed + 1000003ULL * static_cast<uint64_t>(rank));
  }
  bool load_last(const std::string& out_dir, int64_t& iter, nlohmann::json& progress) override {
    const std::string last = state_path(out_dir, "last");
    if (!file_exists(last)) return false;
    TrainState st = load_train_state(last, *optimizer_, &net_);
    iter = st.iter;
    progress = st.progress;
    if (curvature_ && file_exists(curvature_path())) {
      // Rows measured after the resumed position are measured again.
      std::string kept;
      for (const auto& row : read_jsonl(curvature_path()))
        if (row.value("iter", int64_t(0)) < iter) kept += row.dump() + "\n";
      write_file_atomic(curvature_path(), kept);
    }
    train_ = eval_from_json(st.progress.value("train", nlohmann::json()));
    test_ = eval_from_json(st.progress.value("test", nlohmann::json()));
    return true;
  }

  double prepare_step(int64_t iter) override {
    const double lr = schedule_lr(sched_, iter);
    const bool in_freeze = iter < t_.freeze_iters;
    set_group_lr(*optimizer_, 0, lr);
    if (!frozen_.empty()) set_group_lr(*optimizer_, 1, in_freeze ? 0.0 : lr);
    freeze_->set(in_freeze);
    return lr;
  }
  StepLoss forward_backward(int64_t epoch0, int64_t index) override {
    Batch batch = in_.batches->batch(epoch0, index);
    auto x = batch.x.to(dev_, /*non_blocking=*/true);
    auto y = batch.y.to(dev_, /*non_blocking=*/true);
    torch::Tensor logits, zt;
    {
      AutocastScope amp(dev_, autocast_);
      logits = net_.forward(x);
      if (in_.teacher) {
        torch::NoGradGuard ng;
        zt = in_.teacher->forward(x);
      }
    }
    // The loss in float32 (a no-op without autocast).
    logits = logits.to(torch::kFloat32);
    torch::Tensor loss = in_.teacher ? kd_loss(logits, zt.to(torch::kFloat32), y, t_.kd_temperature, t_.kd_alpha)
                                     : torch::nn::functional::cross_entropy(logits, y);
    loss.backward();
    return {loss.detach(), x.size(0)};
  }

  // End of epoch: un-augmented train metrics and test metrics.
  EpochResult end_epoch(const EpochInfo& e) override {
    train_ = evaluate(net_, train_eval_, dev_, t_.eval_batch, t_.eval_train_subset);
    test_ = evaluate(net_, test_eval_, dev_, t_.eval_batch, 0);
    const double seconds = e.seconds_so_far();
    if (!quiet_ && std::isfinite(train_.loss))
      std::fprintf(stderr, "%sepoch %lld/%lld: train loss %.4f acc %.2f%%, test loss %.4f acc %.2f%%, %.1fs\n",
                   ::isatty(2) ? "\r\033[K" : "", (long long)e.epoch, (long long)t_.epochs, train_.loss,
                   100 * train_.accuracy, test_.loss, 100 * test_.accuracy, seconds);
    return {{{"epoch", e.epoch},
             {"iter", e.iter},
             {"lr", e.lr},
             {"train_loss", train_.loss},
             {"train_acc", train_.accuracy},
             {"test_loss", test_.loss},
             {"test_acc", test_.accuracy},
             {"seconds", seconds},
             {"images_per_s", e.train_seconds > 0 ? double(e.images) / e.train_seconds : 0.0}},
            train_.loss};
  }

  std::vector<std::string> start_tags() override { return {"init"}; }
  std::vector<std::string> epoch_tags(int64_t E) override {
    std::vector<std::string> tags;
    if (std::count(t_.checkpoint_epochs.begin(), t_.checkpoint_epochs.end(), E) ||
        (t_.checkpoint_every > 0 && E % t_.checkpoint_every == 0))
      tags.push_back("epoch-" + std::to_string(E));
    if (t_.checkpoint_sgdr_cycles) {
      auto it = std::find(cycle_ends_.begin(), cycle_ends_.end(), E);
      if (it != cycle_ends_.end()) tags.push_back("sgdr-cycle-" + std::to_string(it - cycle_ends_.begin() + 1));
    }
    if (E == t_.epochs) tags.push_back("final");
    return tags;
  }
  std::vector<std::string> final_tags() override { return {"final"}; }
  void save(const std::string& out_dir, const std::string& tag, int64_t iter, const nlohmann::json& progress) override {
    net_.save(checkpoint_path(out_dir, tag));
    if (tag != "last" && !tag_states_) return;  // resume-only state of a tagged checkpoint (RunOptions)
    save_train_state(state_path(out_dir, tag), *optimizer_, tag == "last" ? &net_ : nullptr, TrainState{iter, progress});
  }
  std::string done_text() const override { return fmt::format("test acc {:.2f}%", 100 * test_.accuracy); }
  nlohmann::json progress_extra() const override { return {{"train", eval_json(train_)}, {"test", eval_json(test_)}}; }
  nlohmann::json summary_json(const LoopResult& r) const override {
    auto j = summary(r).to_json();
    j["config_hash"] = in_.config_hash;
    j["epochs"] = t_.epochs;
    j["iters_per_epoch"] = ipe_;
    return j;
  }
  TrainSummary summary(const LoopResult& r) const {
    TrainSummary S;
    static_cast<LoopResult&>(S) = r;
    S.train = train_;
    S.test = test_;
    return S;
  }

 private:
  const TrainInputs& in_;
  Network& net_;
  const TrainSpec& t_;
  torch::Device dev_;
  std::optional<torch::ScalarType> autocast_;  // train.precision
  bool quiet_;
  int64_t ipe_ = 0;
  ScheduleSpec sched_;
  Dataset train_eval_, test_eval_;
  std::vector<torch::Tensor> frozen_, all_params_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<FreezeControl> freeze_;
  std::vector<int64_t> cycle_ends_;
  EvalResult train_, test_;
  std::string out_dir_;
  bool tag_states_ = true;  // RunOptions::tag_states
  CurvatureTrackOptions curv_opts_;
  std::unique_ptr<CurvatureTracker> curvature_;
};

}  // namespace

TrainSummary train_network(const TrainInputs& in, const std::string& out_dir, const RunOptions& opts) {
  CL_CHECK_INPUT(in.net && in.batches && in.train_eval && in.test, "train_network: missing network or data");
  // Curvature tracking writes rows on rank 0 only.
  const bool writer = !opts.data_parallel || opts.data_parallel->rank() == 0;
  NetworkTarget target(in, opts, writer ? out_dir : "");
  LoopOptions lo;
  lo.epochs = in.spec.epochs;
  lo.out_dir = out_dir;
  lo.device = opts.device;
  lo.sync_every = 20;
  lo.checkpoint_iters = in.spec.checkpoint_iters;
  lo.progress_label = "train";
  lo.quiet = opts.quiet;
  lo.data_parallel = opts.data_parallel;
  lo.after_backward = opts.after_backward;
  return target.summary(TrainLoop(target, lo).run());
}

}  // namespace closerlook
