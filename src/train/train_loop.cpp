#include "train/train_loop.h"

#include <atomic>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fmt/format.h>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/progress.h"
#include "train/optimizer.h"
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

}  // namespace

// Keeps metrics.jsonl consistent with the resumed position: rows of epochs after the last
// checkpoint (written before a kill) are dropped, so they are not duplicated.
void truncate_metrics(const std::string& path, int64_t max_epoch) {
  if (!file_exists(path)) return;
  std::string kept;
  for (const auto& row : read_jsonl(path))
    if (row.value("epoch", int64_t(0)) <= max_epoch) kept += row.dump() + "\n";
  write_file_atomic(path, kept);
}

TrainLoop::TrainLoop(TrainTarget& target, LoopOptions opts)
    : target_(target), opts_(std::move(opts)), dp_(opts_.data_parallel) {
  writer_ = !dp_ || dp_->rank() == 0;
  files_ = writer_ && !opts_.out_dir.empty();
}

double TrainLoop::seconds_now() const {
  return seconds_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - session_start_).count();
}

nlohmann::json TrainLoop::progress_json() const {
  nlohmann::json j = target_.progress_extra();
  j["checkpoints"] = nlohmann::json(r_.checkpoints);  // [] when none
  j["seconds"] = seconds_now();
  return j;
}

void TrainLoop::save_checkpoint(const std::string& tag) {
  if (tag != "last") {
    bool seen = false;
    for (const auto& c : r_.checkpoints) seen |= c.tag == tag;
    if (!seen) r_.checkpoints.push_back({tag, iter_, iter_ / ipe_});
  }
  if (files_) target_.save(opts_.out_dir, tag, iter_, progress_json());
}

void TrainLoop::write_summary(RunStatus status) {
  r_.status = status;
  r_.iter = iter_;
  r_.epoch = iter_ / ipe_;
  r_.seconds = seconds_now();
  if (files_) write_json((fs::path(opts_.out_dir) / "summary.json").string(), target_.summary_json(r_));
}

bool TrainLoop::read_window() {
  if (window_n_ == 0) return true;
  r_.last_loss = window_.item<double>() / double(window_n_);
  window_.zero_();
  window_n_ = 0;
  return std::isfinite(r_.last_loss);
}

LoopResult TrainLoop::diverge() {
  r_.diverged_iter = iter_;
  progress_->done(to_string(RunStatus::Diverged));
  write_summary(RunStatus::Diverged);
  if (!opts_.quiet)
    std::fprintf(stderr, "training diverged (loss %g) before iteration %lld%s%s\n", r_.last_loss, (long long)iter_,
                 files_ ? "; recorded in " : "", files_ ? (opts_.out_dir + "/summary.json").c_str() : "");
  return r_;
}

void TrainLoop::interrupt(int sig) {
  const std::string last = state_path(opts_.out_dir, "last");
  std::string where;
  if (target_.resumes_mid_epoch()) {
    save_checkpoint("last");
    where = "state saved in " + last;
  } else {
    where = "the state of epoch " + std::to_string(iter_ / ipe_) + " is in " + last;
  }
  write_summary(RunStatus::Interrupted);
  progress_->done(to_string(RunStatus::Interrupted));
  throw Error(ExitCode::Interrupted, std::string("interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                                         " at iteration " + std::to_string(iter_) + "; " + where +
                                         ", rerun the same command to resume");
}

bool TrainLoop::resume() {
  const std::string& dir = opts_.out_dir;
  const std::string metrics_path = (fs::path(dir) / "metrics.jsonl").string();
  nlohmann::json progress;
  if (!dir.empty() && target_.load_last(dir, iter_, progress)) {
    for (const auto& c : progress.value("checkpoints", nlohmann::json::array()))
      r_.checkpoints.push_back(c.get<CheckpointRecord>());
    seconds_before_ = progress.value("seconds", 0.0);
    CL_CHECK_INPUT(iter_ >= 0 && iter_ <= total_, state_path(dir, "last") + ": iteration " + std::to_string(iter_) +
                                                      " is outside this run (" + std::to_string(total_) +
                                                      " iterations)");
    if (iter_ == total_ && target_.finished(dir)) {
      r_.already_done = true;
      r_.status = RunStatus::Completed;
      r_.iter = iter_;
      r_.epoch = iter_ / ipe_;
      r_.seconds = seconds_before_;
      return true;
    }
    if (files_) truncate_metrics(metrics_path, iter_ / ipe_);
    if (!opts_.quiet)
      std::fprintf(stderr, "resuming %s from iteration %lld (epoch %lld)\n", dir.c_str(), (long long)iter_,
                   (long long)(iter_ / ipe_));
  } else {
    iter_ = 0;
    target_.fresh_start(dp_ ? dp_->rank() : 0);
    if (files_ && file_exists(metrics_path)) fs::remove(metrics_path);
  }
  return false;
}

LoopResult TrainLoop::run() {
  ipe_ = target_.batches_per_epoch();
  CL_CHECK_INPUT(ipe_ > 0, "no training batches");
  CL_CHECK_INPUT(opts_.epochs >= 1, "training needs at least one epoch, got " + std::to_string(opts_.epochs));
  CL_CHECK_INPUT(opts_.sync_every >= 1, "sync_every must be >= 1");
  total_ = opts_.epochs * ipe_;
  if (files_) make_dirs((fs::path(opts_.out_dir) / "checkpoints").string());
  session_start_ = std::chrono::steady_clock::now();
  if (resume()) return r_;
  session_start_ = std::chrono::steady_clock::now();
  if (dp_) dp_->on_start(target_.network(), iter_);

  const std::set<int64_t> ck_iters(opts_.checkpoint_iters.begin(), opts_.checkpoint_iters.end());
  if (iter_ == 0) {
    for (const auto& tag : target_.start_tags()) save_checkpoint(tag);
    if (ck_iters.count(0)) save_checkpoint("iter-0");
  }

  StopSignalGuard signals;
  Progress progress(opts_.progress_label, total_ - iter_, opts_.quiet);
  progress_ = &progress;
  window_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(opts_.device));
  window_n_ = 0;
  const bool read_before_step = opts_.sync_every == 1;
  const std::vector<torch::Tensor> params = target_.parameters();
  auto clock = std::chrono::steady_clock::now;
  double lr = std::nan("");

  for (int64_t epoch = iter_ / ipe_; epoch < opts_.epochs; ++epoch) {
    if (opts_.stop_after_epochs > 0 && epoch >= opts_.stop_after_epochs) {
      progress.done("stopped");
      write_summary(RunStatus::Interrupted);
      return r_;
    }
    const auto epoch_start = clock();
    double train_seconds = 0;
    int64_t images = 0;
    target_.begin_epoch(epoch);
    for (int64_t b = iter_ - epoch * ipe_; b < ipe_; ++b) {
      if (int sig = g_signal.load()) {
        if (!read_window()) return diverge();
        interrupt(sig);
      }
      if (writer_) target_.observe(iter_);
      const auto step_start = clock();
      lr = target_.prepare_step(iter_);
      clear_grads(params);
      StepLoss step = target_.forward_backward(epoch, b);
      if (step.examples > 0) {
        torch::Tensor loss = step.loss;
        if (dp_) loss = dp_->reduce_gradients(target_.network(), loss, step.examples);  // global batch
        if (opts_.after_backward) opts_.after_backward(target_.network());
        window_ += loss;
        ++window_n_;
        if (read_before_step && !read_window()) return diverge();  // the diverging step is never applied
        target_.before_optimizer_step();
        target_.optimizer().step();
        target_.after_optimizer_step();
        images += step.examples;
      }
      ++iter_;
      // The only host synchronisation of the loop: every sync_every iterations, at the end of an
      // epoch and at iteration checkpoints. On a GPU the steps in between are queued
      // asynchronously, so train_seconds counts the time up to and including that sync.
      const bool log_now = (iter_ % opts_.sync_every == 0) || b + 1 == ipe_ || ck_iters.count(iter_);
      if (log_now && !read_window()) return diverge();
      train_seconds += std::chrono::duration<double>(clock() - step_start).count();
      progress.tick(1, log_now ? fmt::format("ep {}/{} loss {:.4f} lr {:.4g}", epoch + 1, opts_.epochs, r_.last_loss, lr)
                               : "");
      if (ck_iters.count(iter_)) {
        if (dp_) dp_->sync_state(target_.network());
        save_checkpoint("iter-" + std::to_string(iter_));
      }
    }
    if (!read_window()) return diverge();

    // End of epoch E = epoch + 1: the target's evaluation, one metrics row, checkpoints.
    EpochInfo info;
    info.epoch = epoch + 1;
    info.iter = iter_;
    info.lr = lr;
    info.train_seconds = train_seconds;
    info.images = images;
    if (dp_) dp_->sync_state(target_.network());
    info.start = epoch_start;
    EpochResult er = target_.end_epoch(info);
    if (!std::isfinite(er.loss)) {
      r_.last_loss = er.loss;
      return diverge();
    }
    if (files_) append_jsonl((fs::path(opts_.out_dir) / "metrics.jsonl").string(), er.metrics);
    for (const auto& tag : target_.epoch_tags(info.epoch)) save_checkpoint(tag);
    save_checkpoint("last");
  }
  if (writer_ && iter_ == total_) target_.observe(iter_);
  progress.done(target_.done_text());
  if (iter_ == total_)
    for (const auto& tag : target_.final_tags()) {
      bool seen = false;
      for (const auto& c : r_.checkpoints) seen |= c.tag == tag;
      if (!seen) save_checkpoint(tag);
    }
  write_summary(RunStatus::Completed);
  return r_;
}

}  // namespace closerlook
