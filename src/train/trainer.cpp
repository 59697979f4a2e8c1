#include "train/trainer.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fmt/format.h>
#include <unistd.h>

#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/progress.h"
#include "train/kd_loss.h"
#include "train/optimizer.h"
#include "train/run_dir.h"
#include "train/schedule.h"
#include "train/train_state.h"

namespace fs = std::filesystem;

namespace closerlook {

namespace {

std::atomic<int> g_signal{0};
extern "C" void on_stop_signal(int sig) { g_signal.store(sig); }

// SIGINT/SIGTERM set a flag that the loop checks between steps; the previous handlers come back
// when training ends.
class StopSignalGuard {
 public:
  StopSignalGuard() {
    g_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignalGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

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

// Keeps metrics.jsonl consistent with the resumed position: rows of epochs after the last
// checkpoint (written before a kill) are dropped, so they are not duplicated.
void truncate_metrics(const std::string& path, int64_t max_epoch) {
  if (!file_exists(path)) return;
  std::string kept;
  for (const auto& row : read_jsonl(path))
    if (row.value("epoch", int64_t(0)) <= max_epoch) kept += row.dump() + "\n";
  write_file_atomic(path, kept);
}

}  // namespace

nlohmann::json TrainSummary::to_json() const {
  nlohmann::json ck = nlohmann::json::array();
  for (const auto& c : checkpoints)
    ck.push_back({{"tag", c.tag}, {"iter", c.iter}, {"epoch", c.epoch}, {"path", "checkpoints/" + c.tag + ".pt"}});
  nlohmann::json j = {{"status", status},
                      {"epoch", epoch},
                      {"iter", iter},
                      {"train_loss", train.loss},
                      {"train_acc", train.accuracy},
                      {"test_loss", test.loss},
                      {"test_acc", test.accuracy},
                      {"seconds", seconds},
                      {"checkpoints", ck}};
  if (diverged_iter >= 0) j["diverged_iter"] = diverged_iter;
  return j;
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

TrainSummary train_network(const TrainInputs& in, const std::string& out_dir, const RunOptions& opts) {
  CL_CHECK_INPUT(in.net && in.batches && in.train_eval && in.test, "train_network: missing network or data");
  Network& net = *in.net;
  const TrainSpec& t = in.spec;
  const torch::Device dev = opts.device;
  const int64_t ipe = in.batches->num_batches();
  CL_CHECK_INPUT(ipe > 0, "no training batches: the training set is smaller than batch_size " +
                              std::to_string(t.batch_size) + " with drop_last");
  const ScheduleSpec sched = schedule_spec(t, ipe);
  const int64_t total_iters = t.epochs * ipe;
  DataParallelHooks* dp = opts.data_parallel;
  const bool writer = !dp || dp->rank() == 0;  // data parallel: only rank 0 writes files
  if (writer) make_dirs((fs::path(out_dir) / "checkpoints").string());
  const std::string metrics_path = (fs::path(out_dir) / "metrics.jsonl").string();
  const std::string summary_path = (fs::path(out_dir) / "summary.json").string();

  net.to(dev);
  net.train(true);
  // Evaluation sets on the training device once (shared, not copied, when already there), so
  // the end-of-epoch evaluations move no data.
  const Dataset train_eval = dataset_on(*in.train_eval, dev, t.eval_train_subset);
  const Dataset test_eval = dataset_on(*in.test, dev);
  if (in.teacher) {
    in.teacher->to(dev);
    in.teacher->train(false);
  }

  // Param group 0: always trained; group 1: frozen for the first freeze_iters iterations.
  std::set<std::string> frozen_names;
  if (t.freeze_iters > 0) {
    auto names = frozen_parameter_names(net, t.freeze_prefixes);
    frozen_names.insert(names.begin(), names.end());
  }
  std::vector<torch::Tensor> trained, frozen, all_params;
  for (auto& [name, p] : net.named_parameters()) {
    (frozen_names.count(name) ? frozen : trained).push_back(p);
    all_params.push_back(p);
  }
  auto optimizer = make_optimizer(t, {trained, frozen});
  FreezeControl freeze(frozen);
  const std::set<int64_t> ck_iters(t.checkpoint_iters.begin(), t.checkpoint_iters.end());
  const std::set<int64_t> ck_epochs(t.checkpoint_epochs.begin(), t.checkpoint_epochs.end());
  std::vector<int64_t> cycle_ends;
  if (t.schedule == "sgdr") cycle_ends = sgdr_cycle_end_epochs(t.sgdr_t0, t.sgdr_tmult, t.epochs);

  TrainSummary S;
  int64_t iter = 0;
  double seconds_before = 0;  // training time of earlier sessions of this run
  const std::string last_state = state_path(out_dir, "last");
  if (file_exists(last_state)) {
    TrainState st = load_train_state(last_state, *optimizer, &net);
    iter = st.iter;
    for (const auto& c : st.progress.value("checkpoints", nlohmann::json::array()))
      S.checkpoints.push_back({c.at("tag").get<std::string>(), c.at("iter").get<int64_t>(), c.at("epoch").get<int64_t>()});
    seconds_before = st.progress.value("seconds", 0.0);
    S.train = eval_from_json(st.progress.value("train", nlohmann::json()));
    S.test = eval_from_json(st.progress.value("test", nlohmann::json()));
    CL_CHECK_INPUT(iter >= 0 && iter <= total_iters,
                   last_state + ": iteration " + std::to_string(iter) + " is outside this run (" +
                       std::to_string(total_iters) + " iterations)");
    if (writer) truncate_metrics(metrics_path, iter / ipe);
    if (!opts.quiet)
      std::fprintf(stderr, "resuming %s from iteration %lld (epoch %lld)\n", out_dir.c_str(), (long long)iter,
                   (long long)(iter / ipe));
  } else {
    // Dropout stream; the weights were initialised by the caller. Data-parallel ranks > 0 draw
    // their own masks (rank 0 keeps the single-process stream).
    torch::manual_seed(in.seed + (dp ? 1000003ULL * static_cast<uint64_t>(dp->rank()) : 0ULL));
    if (writer && file_exists(metrics_path)) fs::remove(metrics_path);
  }
  if (dp) dp->on_start(net, iter);

  auto clock = std::chrono::steady_clock::now;
  const auto session_start = clock();
  auto seconds_now = [&] { return seconds_before + std::chrono::duration<double>(clock() - session_start).count(); };

  auto progress_json = [&] {
    nlohmann::json ck = nlohmann::json::array();
    for (const auto& c : S.checkpoints) ck.push_back({{"tag", c.tag}, {"iter", c.iter}, {"epoch", c.epoch}});
    return nlohmann::json{{"checkpoints", ck}, {"seconds", seconds_now()}, {"train", eval_json(S.train)},
                          {"test", eval_json(S.test)}};
  };
  auto save_checkpoint = [&](const std::string& tag) {
    const bool rolling = tag == "last";
    if (!rolling) {
      bool seen = false;
      for (const auto& c : S.checkpoints) seen |= c.tag == tag;
      if (!seen) S.checkpoints.push_back({tag, iter, iter / ipe});
    }
    if (!writer) return;
    net.save(checkpoint_path(out_dir, tag));
    save_train_state(state_path(out_dir, tag), *optimizer, rolling ? &net : nullptr, TrainState{iter, progress_json()});
  };
  auto write_summary = [&](const std::string& status) {
    S.status = status;
    S.iter = iter;
    S.epoch = iter / ipe;
    S.seconds = seconds_now();
    auto j = S.to_json();
    j["config_hash"] = in.config_hash;
    j["epochs"] = t.epochs;
    j["iters_per_epoch"] = ipe;
    if (writer) write_json(summary_path, j);
  };

  if (iter == 0) save_checkpoint("init");
  if (iter == 0 && ck_iters.count(0)) save_checkpoint("iter-0");

  StopSignalGuard signals;
  Progress progress("train", total_iters - iter, opts.quiet);
  auto loss_window = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(dev));
  int64_t window_n = 0;
  double last_loss = std::nan("");
  double lr = schedule_lr(sched, iter);
  // Reads the summed minibatch losses (one device sync) and tells whether they are finite.
  auto window_finite = [&] {
    if (window_n == 0) return true;
    last_loss = loss_window.item<double>() / double(window_n);
    loss_window.zero_();
    window_n = 0;
    return std::isfinite(last_loss);
  };
  auto diverge = [&] {
    S.diverged_iter = iter;
    progress.done("diverged");
    write_summary("diverged");
    if (!opts.quiet)
      std::fprintf(stderr, "training diverged (loss %g) before iteration %lld; recorded in %s\n", last_loss,
                   (long long)iter, summary_path.c_str());
    return S;
  };

  for (int64_t epoch = iter / ipe; epoch < t.epochs; ++epoch) {
    const auto epoch_start = clock();
    double train_seconds = 0;
    int64_t images = 0;
    for (int64_t b = iter - epoch * ipe; b < ipe; ++b) {
      if (int sig = g_signal.load()) {
        if (!window_finite()) return diverge();
        save_checkpoint("last");
        write_summary("interrupted");
        progress.done("interrupted");
        throw Error(ExitCode::Interrupted, std::string("interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                                               " at iteration " + std::to_string(iter) + "; state saved in " +
                                               last_state + ", rerun the same command to resume");
      }
      const auto step_start = clock();
      lr = schedule_lr(sched, iter);
      const bool in_freeze = iter < t.freeze_iters;
      set_group_lr(*optimizer, 0, lr);
      if (!frozen.empty()) set_group_lr(*optimizer, 1, in_freeze ? 0.0 : lr);
      freeze.set(in_freeze);

      Batch batch = in.batches->batch(epoch, b);
      auto x = batch.x.to(dev, /*non_blocking=*/true);
      auto y = batch.y.to(dev, /*non_blocking=*/true);
      clear_grads(all_params);
      auto logits = net.forward(x);
      torch::Tensor loss;
      if (in.teacher) {
        torch::Tensor zt;
        {
          torch::NoGradGuard ng;
          zt = in.teacher->forward(x);
        }
        loss = kd_loss(logits, zt, y, t.kd_temperature, t.kd_alpha);
      } else {
        loss = torch::nn::functional::cross_entropy(logits, y);
      }
      loss.backward();
      torch::Tensor step_loss = loss.detach();
      if (dp) step_loss = dp->reduce_gradients(net, step_loss, x.size(0));  // global-batch gradients and loss
      if (opts.after_backward) opts.after_backward(net);
      optimizer->step();
      ++iter;
      images += x.size(0);
      loss_window += step_loss;
      ++window_n;

      // The only host synchronisation of the loop: every 20 iterations, at the end of an epoch
      // and at iteration checkpoints. On a GPU the steps in between are queued asynchronously,
      // so train_seconds counts the time up to and including that sync (the device's real pace).
      const bool log_now = (iter % 20 == 0) || b + 1 == ipe || ck_iters.count(iter);
      if (log_now) {
        if (!window_finite()) return diverge();
      }
      train_seconds += std::chrono::duration<double>(clock() - step_start).count();
      progress.tick(1, log_now ? fmt::format("ep {}/{} loss {:.4f} lr {:.4g}", epoch + 1, t.epochs, last_loss, lr) : "");
      if (ck_iters.count(iter)) {
        if (dp) dp->sync_state(net);
        save_checkpoint("iter-" + std::to_string(iter));
      }
    }
    if (!window_finite()) return diverge();

    // End of epoch E = epoch + 1: un-augmented train metrics, test metrics, checkpoints.
    const int64_t E = epoch + 1;
    if (dp) dp->sync_state(net);
    S.train = evaluate(net, train_eval, dev, t.eval_batch, t.eval_train_subset);
    S.test = evaluate(net, test_eval, dev, t.eval_batch, 0);
    if (!std::isfinite(S.train.loss)) {
      last_loss = S.train.loss;
      return diverge();
    }
    const double epoch_seconds = std::chrono::duration<double>(clock() - epoch_start).count();
    if (writer)
      append_jsonl(metrics_path, {{"epoch", E},
                                {"iter", iter},
                                {"lr", lr},
                                {"train_loss", S.train.loss},
                                {"train_acc", S.train.accuracy},
                                {"test_loss", S.test.loss},
                                {"test_acc", S.test.accuracy},
                                {"seconds", epoch_seconds},
                                {"images_per_s", train_seconds > 0 ? double(images) / train_seconds : 0.0}});
    if (ck_epochs.count(E) || (t.checkpoint_every > 0 && E % t.checkpoint_every == 0))
      save_checkpoint("epoch-" + std::to_string(E));
    if (t.checkpoint_sgdr_cycles) {
      auto it = std::find(cycle_ends.begin(), cycle_ends.end(), E);
      if (it != cycle_ends.end()) save_checkpoint("sgdr-cycle-" + std::to_string(it - cycle_ends.begin() + 1));
    }
    if (E == t.epochs) save_checkpoint("final");
    save_checkpoint("last");
    if (!opts.quiet)
      std::fprintf(stderr, "%sepoch %lld/%lld: train loss %.4f acc %.2f%%, test loss %.4f acc %.2f%%, %.1fs\n",
                   ::isatty(2) ? "\r\033[K" : "", (long long)E, (long long)t.epochs, S.train.loss, 100 * S.train.accuracy, S.test.loss,
                   100 * S.test.accuracy, epoch_seconds);
  }
  progress.done(fmt::format("test acc {:.2f}%", 100 * S.test.accuracy));
  if (iter == total_iters) {
    bool has_final = false;
    for (const auto& c : S.checkpoints) has_final |= c.tag == "final";
    if (!has_final) save_checkpoint("final");
  }
  write_summary("completed");
  return S;
}

}  // namespace closerlook
