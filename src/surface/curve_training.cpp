#include "surface/curve_training.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/archive_io.h"
#include "core/error.h"
#include "core/flat.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "core/progress.h"
#include "data/counter_rng.h"

namespace closerlook {

nlohmann::json CurveTrainOptions::to_json() const {
  return {{"type", curve_type_name(type)},   {"bends", bends},     {"epochs", epochs},
          {"lr", lr},                        {"momentum", momentum}, {"weight_decay", weight_decay},
          {"batch_size", batch_size},        {"seed", seed},       {"fix_start", fix_start},
          {"fix_end", fix_end},              {"save_every", save_every}};
}

nlohmann::json CurveTrainSummary::to_json() const {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  return {{"status", status}, {"epoch", epoch}, {"loss", num(loss)}, {"nll", num(nll)},
          {"err", num(err)},  {"seconds", seconds}};
}

double curve_sample_t(uint64_t seed, int64_t epoch, int64_t index) {
  KeyedRng rng(mix_keys({seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index), 0xC0DEC0DEULL}));
  return static_cast<double>(rng.next() >> 11) * 0x1.0p-53;
}

namespace {

namespace fs = std::filesystem;

struct ResumeState {
  int64_t epoch = 0;
  double seconds = 0;
};

std::string last_state_path(const std::string& dir) { return dir + "/checkpoints/last.state.pt"; }

void save_state(const std::string& path, const Curve& curve, const torch::Tensor& momentum, int64_t epoch,
                double seconds) {
  torch::serialize::OutputArchive ar;
  ar.write("bends", curve.bends().detach().cpu());
  ar.write("momentum", momentum.detach().cpu());
  ar.write("epoch", torch::tensor({epoch}, torch::kInt64));
  ar.write("seconds", torch::tensor({seconds}, torch::kFloat64));
  write_archive_atomic(path, ar);
}

ResumeState load_state(const std::string& path, Curve& curve, torch::Tensor& momentum) {
  torch::serialize::InputArchive ar;
  torch::Tensor bends, mom, epoch, seconds;
  try {
    load_checked_archive(path, ar);
    ar.read("bends", bends);
    ar.read("momentum", mom);
    ar.read("epoch", epoch);
    ar.read("seconds", seconds);
  } catch (const c10::Error& e) {
    throw_bad_input(path + ": unreadable curve state (" + e.what_without_backtrace() + ")");
  }
  if (!bends.sizes().equals(curve.bends().sizes()) || !mom.sizes().equals(curve.bends().sizes()))
    throw_bad_input(path + ": curve state has bends of shape " + std::to_string(bends.size(0)) + "x" +
                    std::to_string(bends.numel() / std::max<int64_t>(1, bends.size(0))) +
                    ", which does not match this curve");
  torch::NoGradGuard ng;
  curve.bends().copy_(bends);
  momentum.copy_(mom);
  return {epoch.item<int64_t>(), seconds.item<double>()};
}

// Keeps the metrics lines of epochs <= `epoch` (lines of an epoch whose state was never written
// are dropped, so a resumed run does not log them twice).
void truncate_metrics(const std::string& path, int64_t epoch) {
  if (!file_exists(path)) return;
  std::string out;
  for (const auto& j : read_jsonl(path))
    if (j.value("epoch", int64_t(0)) <= epoch) out += j.dump() + "\n";
  write_file_atomic(path, out);
}

}  // namespace

CurveStep curve_step_async(const Curve& curve, const std::vector<double>& c, Network& work, const torch::Tensor& x,
                           const torch::Tensor& y, double weight_decay) {
  auto params = work.parameters();
  CurveStep st;
  st.w = curve.point_from_coefficients(c);
  unflatten_into(st.w, params);
  for (auto& p : params)
    if (p.grad().defined()) p.mutable_grad().zero_();
  work.train(true);
  auto logits = work.forward(x);
  auto ce = torch::nn::functional::cross_entropy(logits, y);
  ce.backward();
  torch::NoGradGuard ng;
  // In float64 as the host arithmetic it replaces: nll + (0.5 wd) * ||w||^2.
  st.nll_t = ce.detach().to(torch::kFloat64);
  st.loss_t = st.nll_t + st.w.to(torch::kFloat64).pow(2).sum() * (0.5 * weight_decay);
  st.wrong_t = logits.argmax(1).ne(y).sum();
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (auto& p : params) grads.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
  st.grad = flatten_tensors(grads, curve.bends().scalar_type());
  if (weight_decay > 0) st.grad.add_(st.w, weight_decay);  // the penalty's gradient at w(t)
  return st;
}

CurveStep curve_step(const Curve& curve, const std::vector<double>& c, Network& work, const torch::Tensor& x,
                     const torch::Tensor& y, double weight_decay) {
  CurveStep st = curve_step_async(curve, c, work, x, y, weight_decay);
  // One transfer for the three values (exact: the count is far below 2^53).
  const torch::Tensor h = torch::stack({st.nll_t, st.loss_t, st.wrong_t.to(torch::kFloat64)}).cpu();
  const double* v = h.data_ptr<double>();
  st.nll = v[0];
  st.loss = v[1];
  st.wrong = static_cast<int64_t>(v[2]);
  return st;
}

CurveTrainSummary train_curve(Curve& curve, Network& work, const Dataset& train, const AugmentSpec& aug,
                              torch::Device device, const CurveTrainOptions& opts, const std::string& out_dir,
                              bool quiet) {
  CL_CHECK_INPUT(opts.epochs >= 1, "curve training: epochs must be >= 1, got " + std::to_string(opts.epochs));
  CL_CHECK_INPUT(opts.lr > 0, "curve training: lr must be > 0");
  CL_CHECK_INPUT(opts.momentum >= 0 && opts.momentum < 1, "curve training: momentum must be in [0, 1)");
  CL_CHECK_INPUT(opts.weight_decay >= 0, "curve training: weight decay must be >= 0");
  CL_CHECK_INPUT(opts.batch_size >= 2, "curve training: batch size must be >= 2");
  CL_CHECK_INPUT(train.size() >= 2, "curve training: the training set is empty");
  const int64_t P = curve.num_parameters();
  CL_CHECK_INPUT(parameter_count(work) == P, "curve training: the network has " +
                                                 std::to_string(parameter_count(work)) +
                                                 " parameters, the curve " + std::to_string(P));
  const int B = curve.num_bends();
  std::vector<int> free_bends;
  for (int j = 0; j < B; ++j)
    if (!curve.fixed()[j]) free_bends.push_back(j);

  torch::Tensor momentum = torch::zeros_like(curve.bends());
  ResumeState rs;
  const bool files = !out_dir.empty();
  if (files) {
    make_dirs(out_dir + "/checkpoints");
    if (file_exists(last_state_path(out_dir))) rs = load_state(last_state_path(out_dir), curve, momentum);
    truncate_metrics(out_dir + "/metrics.jsonl", rs.epoch);
    const std::string summary_path = out_dir + "/summary.json";
    if (rs.epoch >= opts.epochs && file_exists(summary_path)) {  // finished earlier: nothing to do
      auto j = read_json(summary_path);
      CurveTrainSummary done;
      done.already_done = true;
      done.status = j.value("status", std::string("completed"));
      done.epoch = rs.epoch;
      auto get = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : NAN; };
      done.loss = get("loss");
      done.nll = get("nll");
      done.err = get("err");
      done.seconds = rs.seconds;
      return done;
    }
  }

  // The training set on the device once; batches and augmentation are made there.
  const Dataset train_dev = dataset_on(train, device);
  BatchLoader loader(train_dev, opts.batch_size, /*shuffle=*/true, /*drop_last=*/false, aug, opts.seed);
  CurveTrainSummary sum;
  sum.epoch = rs.epoch;
  sum.seconds = rs.seconds;
  sum.status = "completed";
  const double wd = opts.weight_decay;
  const int64_t sync_every = device.is_cpu() ? 1 : kCurveSyncSteps;
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(device);

  for (int64_t epoch = rs.epoch + 1; epoch <= opts.epochs; ++epoch) {
    if (opts.stop_after > 0 && epoch > opts.stop_after) {
      sum.status = "interrupted";
      break;
    }
    const auto t_start = std::chrono::steady_clock::now();
    const double lr = garipov_curve_lr(opts.lr, epoch, opts.epochs);
    torch::manual_seed(mix_keys({opts.seed, static_cast<uint64_t>(epoch), 0xD80F0A7ULL}));  // dropout
    loader.set_epoch(epoch - 1);
    const int64_t nb = loader.num_batches();
    Progress progress("curve epoch " + std::to_string(epoch) + "/" + std::to_string(opts.epochs), nb, quiet);
    // Sums over the epoch on the device, in float64 (loss * b, nll * b) and int64 (wrong): the
    // same additions in the same order as the host sums they replace.
    torch::Tensor loss_sum = torch::zeros({}, f64), nll_sum = torch::zeros({}, f64);
    torch::Tensor wrong = torch::zeros({}, f64.dtype(torch::kInt64));
    torch::Tensor window_loss = torch::zeros({}, f64);  // sum of the window's step losses
    int64_t seen = 0, window_n = 0, pending = 0;
    bool diverged = false;
    // Reads the window (one host synchronisation); false when a loss in it was not finite.
    auto read_window = [&] {
      if (window_n == 0) return true;
      const double mean = window_loss.item<double>() / double(window_n);
      window_loss.zero_();
      window_n = 0;
      pending = 0;
      progress.tick(0, "loss " + std::to_string(mean));
      return std::isfinite(mean);
    };
    work.train(true);
    for (int64_t i = 0; i < nb; ++i) {
      Batch batch = loader.batch(i);
      const int64_t b = batch.x.size(0);
      if (b < 2) continue;  // a single example: BatchNorm cannot run in train mode
      const auto c = curve.coefficients(curve_sample_t(opts.seed, epoch, i));
      auto x = batch.x.to(device, /*non_blocking=*/true), y = batch.y.to(device, /*non_blocking=*/true);
      CurveStep step = curve_step_async(curve, c, work, x, y, wd);
      window_loss.add_(step.loss_t);
      ++window_n;
      if (sync_every == 1 && !read_window()) {  // CPU: the diverging step is never applied
        diverged = true;
        break;
      }
      {
        torch::NoGradGuard ng;
        for (int j : free_bends) {
          if (c[j] == 0.0 && opts.momentum == 0.0) continue;
          auto buf = momentum[j];
          buf.mul_(opts.momentum).add_(step.grad, c[j]);
          curve.bends()[j].add_(buf, -lr);
        }
      }
      wrong.add_(step.wrong_t);
      loss_sum.add_(step.loss_t * double(b));
      nll_sum.add_(step.nll_t * double(b));
      seen += b;
      progress.tick(1);
      if (sync_every > 1 && ++pending >= sync_every && !read_window()) {
        diverged = true;
        break;
      }
    }
    if (!diverged && !read_window()) diverged = true;
    progress.done();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    sum.seconds += secs;
    if (diverged) {
      sum.status = "diverged";
      break;
    }
    sum.epoch = epoch;
    // One transfer for the epoch's three sums (the count is exact in float64).
    const torch::Tensor totals = torch::stack({loss_sum, nll_sum, wrong.to(torch::kFloat64)}).cpu();
    const double* tv = totals.data_ptr<double>();
    sum.loss = tv[0] / double(std::max<int64_t>(1, seen));
    sum.nll = tv[1] / double(std::max<int64_t>(1, seen));
    sum.err = tv[2] / double(std::max<int64_t>(1, seen));
    if (files) {
      curve.save(out_dir);
      if (opts.save_every > 0 && epoch % opts.save_every == 0)
        write_npy(out_dir + "/checkpoints/epoch-" + std::to_string(epoch) + ".bends.npy",
                  curve.bends().detach().cpu());
      append_jsonl(out_dir + "/metrics.jsonl", {{"epoch", epoch},
                                                 {"lr", lr},
                                                 {"loss", sum.loss},
                                                 {"nll", sum.nll},
                                                 {"err", sum.err},
                                                 {"seconds", secs}});
      save_state(last_state_path(out_dir), curve, momentum, epoch, sum.seconds);
    }
  }
  if (files) {
    auto j = sum.to_json();
    j["options"] = opts.to_json();
    write_json(out_dir + "/summary.json", j);
  }
  return sum;
}

}  // namespace closerlook
