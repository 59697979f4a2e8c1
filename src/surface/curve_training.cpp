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
#include "train/train_state.h"

namespace closerlook {

nlohmann::json CurveTrainOptions::to_json() const { return nlohmann::json(*this); }

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

// checkpoints/last.state.pt of a curve folder: bends, momentum (B x P; rows of fixed bends are 0),
// the epochs completed and the training seconds so far.
void save_state(const std::string& path, const Curve& curve, const torch::Tensor& momentum, int64_t epoch,
                double seconds) {
  torch::serialize::OutputArchive ar;
  ar.write("bends", curve.bends().detach().cpu());
  ar.write("momentum", momentum.detach().cpu());
  ar.write("epoch", torch::tensor({epoch}, torch::kInt64));
  ar.write("seconds", torch::tensor({seconds}, torch::kFloat64));
  write_archive_atomic(path, ar);
}

struct ResumeState {
  int64_t epoch = 0;
  double seconds = 0;
};

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
  momentum = mom.to(curve.bends().options());
  return {epoch.item<int64_t>(), seconds.item<double>()};
}

// The curve as a TrainTarget: the free bends are the optimized leaves, forward/backward runs in
// the work network at w(t), the chain rule gives each free bend c_j(t) dL/dw(t).
class CurveTarget : public TrainTarget {
 public:
  CurveTarget(Curve& curve, Network& work, const Dataset& train, const AugmentSpec& aug, torch::Device device,
              const CurveTrainOptions& o, DataParallelHooks* dp)
      : curve_(curve),
        work_(work),
        o_(o),
        dev_(device),
        world_(dp ? dp->world() : 1),
        train_dev_(dataset_on(train, device)),  // the training set on the device once
        loader_(train_dev_, o.batch_size, /*shuffle=*/true, /*drop_last=*/false, aug, o.seed) {
    if (dp) loader_.set_shard(dp->rank(), dp->world());
    for (int j = 0; j < curve.num_bends(); ++j)
      if (!curve.fixed()[j]) {
        free_idx_.push_back(j);
        free_.push_back(curve.bends()[j]);  // a row view: the optimizer updates the bend matrix in place
      }
    sgd_ = std::make_unique<torch::optim::SGD>(
        free_, torch::optim::SGDOptions(o.lr).momentum(o.momentum).dampening(0).weight_decay(0).nesterov(false));
    const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(device);
    loss_sum_ = torch::zeros({}, f64);
    nll_sum_ = torch::zeros({}, f64);
    wrong_ = torch::zeros({}, f64.dtype(torch::kInt64));
  }

  // The summary for the loop's result: the last epoch completed in this session.
  CurveTrainSummary summary(const LoopResult& r) const {
    if (r.already_done) {
      CurveTrainSummary d = done_;
      d.seconds = r.seconds;  // those of the state file
      return d;
    }
    CurveTrainSummary s;
    s.status = r.status;
    s.epoch = r.epoch;
    s.loss = loss_;
    s.nll = nll_;
    s.err = err_;
    s.seconds = r.seconds;
    return s;
  }

  int64_t batches_per_epoch() const override { return loader_.num_batches(); }
  Network& network() override { return work_; }
  std::vector<torch::Tensor> parameters() override { return free_; }
  torch::optim::Optimizer& optimizer() override { return *sgd_; }
  bool resumes_mid_epoch() const override { return false; }

  bool load_last(const std::string& out_dir, int64_t& iter, nlohmann::json& progress) override {
    const std::string path = state_path(out_dir, "last");
    if (!file_exists(path)) return false;
    torch::Tensor momentum;
    ResumeState rs = load_state(path, curve_, momentum);
    // The momentum buffers become SGD's state (a zero buffer steps exactly as no state).
    for (size_t k = 0; k < free_.size(); ++k) {
      auto st = std::make_unique<torch::optim::SGDParamState>();
      st->momentum_buffer(momentum[free_idx_[k]].clone());
      sgd_->state()[free_[k].unsafeGetTensorImpl()] = std::move(st);
    }
    iter = rs.epoch * batches_per_epoch();
    progress = {{"seconds", rs.seconds}};
    return true;
  }
  bool finished(const std::string& out_dir) override {
    const std::string path = out_dir + "/summary.json";
    if (!file_exists(path)) return false;
    auto j = read_json(path);
    auto get = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : NAN; };
    done_.already_done = true;
    done_.status = j.contains("status") ? j["status"].get<RunStatus>() : RunStatus::Completed;
    done_.epoch = o_.epochs;
    done_.loss = get("loss");
    done_.nll = get("nll");
    done_.err = get("err");
    return true;
  }

  void begin_epoch(int64_t epoch0) override {
    const int64_t E = epoch0 + 1;
    lr_ = garipov_curve_lr(o_.lr, E, o_.epochs);
    for (auto& g : sgd_->param_groups()) g.options().set_lr(lr_);
    torch::manual_seed(mix_keys({o_.seed, static_cast<uint64_t>(E), 0xD80F0A7ULL}));  // dropout
    loader_.set_epoch(epoch0);
    // Sums over the epoch on the device, in float64 (loss * b, nll * b) and int64 (wrong).
    loss_sum_.zero_();
    nll_sum_.zero_();
    wrong_.zero_();
    seen_ = 0;
    work_.train(true);
  }
  double prepare_step(int64_t) override { return lr_; }

  StepLoss forward_backward(int64_t epoch0, int64_t index) override {
    // A global batch with fewer than 2 examples per rank is skipped (BatchNorm cannot run in
    // train mode on a single example); decided from the global size, so all ranks agree.
    const int64_t global = std::min(loader_.batch_size(), loader_.num_examples() - index * loader_.batch_size());
    if (global < 2 * world_) return {};
    Batch batch = loader_.batch(index);
    b_ = batch.x.size(0);
    c_ = curve_.coefficients(curve_sample_t(o_.seed, epoch0 + 1, index));
    auto x = batch.x.to(dev_, /*non_blocking=*/true), y = batch.y.to(dev_, /*non_blocking=*/true);
    step_ = curve_forward_backward(curve_, c_, work_, x, y, o_.weight_decay);
    return {step_.loss_t, b_};
  }
  // The chain rule: bend j's gradient is c_j dL/dw(t) (zeros where c_j = 0, so momentum decays).
  void before_optimizer_step() override {
    curve_point_gradient(curve_, work_, o_.weight_decay, step_);
    for (size_t k = 0; k < free_.size(); ++k) free_[k].mutable_grad() = step_.grad * c_[free_idx_[k]];
  }
  void after_optimizer_step() override {
    torch::NoGradGuard ng;
    wrong_.add_(step_.wrong_t);
    loss_sum_.add_(step_.loss_t * double(b_));
    nll_sum_.add_(step_.nll_t * double(b_));
    seen_ += b_;
    step_ = CurveStep();
  }

  EpochResult end_epoch(const EpochInfo& e) override {
    // One transfer for the epoch's three sums (the count is exact in float64).
    const torch::Tensor totals = torch::stack({loss_sum_, nll_sum_, wrong_.to(torch::kFloat64)}).cpu();
    const double* tv = totals.data_ptr<double>();
    const double n = double(std::max<int64_t>(1, seen_));
    loss_ = tv[0] / n;
    nll_ = tv[1] / n;
    err_ = tv[2] / n;
    return {{{"epoch", e.epoch}, {"lr", lr_}, {"loss", loss_}, {"nll", nll_}, {"err", err_},
             {"seconds", e.seconds_so_far()}},
            loss_};
  }

  std::vector<std::string> epoch_tags(int64_t E) override {
    if (o_.save_every > 0 && E % o_.save_every == 0) return {"epoch-" + std::to_string(E)};
    return {};
  }
  // "last": the curve folder (curve.json + bends.npy) and the resumable state; "epoch-<E>": the bends.
  void save(const std::string& out_dir, const std::string& tag, int64_t iter, const nlohmann::json& progress) override {
    if (tag != "last") {
      write_npy(out_dir + "/checkpoints/" + tag + ".bends.npy", curve_.bends().detach().cpu());
      return;
    }
    curve_.save(out_dir);
    torch::Tensor momentum = torch::zeros_like(curve_.bends());
    for (size_t k = 0; k < free_.size(); ++k) {
      auto it = sgd_->state().find(free_[k].unsafeGetTensorImpl());
      if (it != sgd_->state().end())
        momentum[free_idx_[k]].copy_(static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer());
    }
    save_state(state_path(out_dir, "last"), curve_, momentum, iter / batches_per_epoch(),
               progress.value("seconds", 0.0));
  }
  nlohmann::json summary_json(const LoopResult& r) const override {
    auto j = summary(r).to_json();
    j["options"] = o_.to_json();
    return j;
  }

 private:
  Curve& curve_;
  Network& work_;
  const CurveTrainOptions& o_;
  torch::Device dev_;
  int world_;
  const Dataset train_dev_;
  BatchLoader loader_;
  std::vector<int> free_idx_;
  std::vector<torch::Tensor> free_;
  std::unique_ptr<torch::optim::SGD> sgd_;
  double lr_ = 0;
  torch::Tensor loss_sum_, nll_sum_, wrong_;
  int64_t seen_ = 0, b_ = 0;
  std::vector<double> c_;
  CurveStep step_;
  double loss_ = NAN, nll_ = NAN, err_ = NAN;
  CurveTrainSummary done_;
};

}  // namespace

CurveStep curve_forward_backward(const Curve& curve, const std::vector<double>& c, Network& work,
                                 const torch::Tensor& x, const torch::Tensor& y, double weight_decay) {
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
  return st;
}

void curve_point_gradient(const Curve& curve, Network& work, double weight_decay, CurveStep& st) {
  torch::NoGradGuard ng;
  auto params = work.parameters();
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (auto& p : params) grads.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
  st.grad = flatten_tensors(grads, curve.bends().scalar_type());
  if (weight_decay > 0) st.grad.add_(st.w, weight_decay);  // the penalty's gradient at w(t)
}

CurveStep curve_step_async(const Curve& curve, const std::vector<double>& c, Network& work, const torch::Tensor& x,
                           const torch::Tensor& y, double weight_decay) {
  CurveStep st = curve_forward_backward(curve, c, work, x, y, weight_decay);
  curve_point_gradient(curve, work, weight_decay, st);
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
                              bool quiet, DataParallelHooks* data_parallel) {
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
  CurveTarget target(curve, work, train, aug, device, opts, data_parallel);
  LoopOptions lo;
  lo.epochs = opts.epochs;
  lo.out_dir = out_dir;
  lo.device = device;
  lo.sync_every = device.is_cpu() ? 1 : kCurveSyncSteps;
  lo.stop_after_epochs = opts.stop_after;
  lo.progress_label = "curve";
  lo.quiet = quiet;
  lo.data_parallel = data_parallel;
  return target.summary(TrainLoop(target, lo).run());
}

}  // namespace closerlook
