#include "surface/point_eval.h"

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "surface/bn_folding.h"
#include "surface/bn_recalibration.h"
#include "surface/weights.h"
#include "train/precision.h"

namespace closerlook {

nlohmann::json EvalSettings::to_json() const {
  nlohmann::json j = {{"bn_samples", bn_samples},       {"train_samples", train_samples}, {"test_samples", test_samples},
          {"batch_size", batch_size},       {"bn_batch_size", bn_batch_size}, {"weight_decay", weight_decay},
          {"subset_seed", subset_seed}};
  // fast_engine is left out on purpose (equal values up to rounding); the adaptive train sample
  // changes the values, so it is recorded when used.
  if (train_rel_se > 0) j["train_rel_se"] = train_rel_se, j["train_chunk"] = train_chunk;
  if (train_controls) j["train_controls"] = true;
  if (precision != "float32") j["precision"] = precision;
  return j;
}

std::string EvalSettings::train_method() const {
  if (train_samples < 0) return "none";
  if (train_controls) return train_rel_se > 0 ? "control variates, adaptive" : "control variates";
  if (train_samples == 0) return "full";
  return train_rel_se > 0 ? "adaptive subset" : "subset";
}

namespace {
nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
}  // namespace

nlohmann::json PointMetrics::to_json() const {
  nlohmann::json j;
  for (const auto& k : metric_keys()) j[k] = finite_or_null(metric_value(*this, k));
  j["weight_norm"] = finite_or_null(weight_norm);
  return j;
}

const std::vector<std::string>& metric_keys() {
  static const std::vector<std::string> keys = {"tr_loss", "tr_nll", "tr_err", "te_loss", "te_nll", "te_err"};
  return keys;
}

double metric_value(const PointMetrics& m, const std::string& key) {
  if (key == "tr_loss") return m.tr_loss;
  if (key == "tr_nll") return m.tr_nll;
  if (key == "tr_err") return m.tr_err;
  if (key == "te_loss") return m.te_loss;
  if (key == "te_nll") return m.te_nll;
  if (key == "te_err") return m.te_err;
  throw_bad_input("unknown metric '" + key + "'");
}

void set_metric_value(PointMetrics& m, const std::string& key, double v) {
  if (key == "tr_loss") m.tr_loss = v;
  else if (key == "tr_nll") m.tr_nll = v;
  else if (key == "tr_err") m.tr_err = v;
  else if (key == "te_loss") m.te_loss = v;
  else if (key == "te_nll") m.te_nll = v;
  else if (key == "te_err") m.te_err = v;
  else throw_bad_input("unknown metric '" + key + "'");
}

namespace {

// The first `samples` examples of `perm` (0 or >= size: the whole set in its own order).
std::pair<torch::Tensor, torch::Tensor> take(const Dataset& ds, int64_t samples, const torch::Tensor& perm,
                                             torch::Device device) {
  if (samples <= 0 || samples >= ds.size())
    return {ds.images.to(device).contiguous(), ds.labels.to(device).contiguous()};
  auto idx = perm.narrow(0, 0, samples);
  return {ds.images.index_select(0, idx).to(device).contiguous(), ds.labels.index_select(0, idx).to(device)};
}

}  // namespace

PointEvaluator::PointEvaluator(Network& net, const DataSplit& data, torch::Device device, const EvalSettings& s)
    : net_(net), device_(device), settings_(s) {
  CL_CHECK_INPUT(s.batch_size >= 1, "evaluation batch size must be >= 1, got " + std::to_string(s.batch_size));
  CL_CHECK_INPUT(s.bn_batch_size >= 2, "BN batch size must be >= 2, got " + std::to_string(s.bn_batch_size));
  CL_CHECK_INPUT(s.weight_decay >= 0, "weight decay must be >= 0");
  const bool need_bn = net.has_batchnorm();
  const bool need_train = s.train_samples >= 0;
  if (need_bn || need_train)
    CL_CHECK_INPUT(data.train.size() > 0, "surface evaluation needs a training set (BN statistics / train loss)");
  if (s.test_samples >= 0) CL_CHECK_INPUT(data.test.size() > 0, "surface evaluation: the test set is empty");
  torch::Tensor perm;
  if ((s.bn_samples > 0 && s.bn_samples < data.train.size()) ||
      (s.train_samples > 0 && s.train_samples < data.train.size()))
    perm = seeded_permutation(data.train.size(), s.subset_seed);
  if (need_train) {
    std::tie(train_images_, train_labels_) = take(data.train, s.train_samples, perm, device);
    train_index_ = (s.train_samples <= 0 || s.train_samples >= data.train.size())
                       ? torch::arange(data.train.size(), torch::kInt64)
                       : perm.narrow(0, 0, s.train_samples).clone();
  }
  // A relative se of 1 or more would stop after the first chunk whatever the cell: not a tolerance.
  CL_CHECK_INPUT(s.train_rel_se >= 0 && s.train_rel_se < 1,
                 "train_rel_se must be in [0, 1), got " + std::to_string(s.train_rel_se));
  CL_CHECK_INPUT(s.train_chunk >= 1, "train_chunk must be >= 1");
  // Both read a seeded random subset (the whole set is read in its own order, and is exact).
  CL_CHECK_INPUT(s.train_rel_se == 0 || s.train_samples > 0,
                 "train_rel_se > 0 needs train_samples > 0 (the most examples a point reads)");
  CL_CHECK_INPUT(!s.train_controls || s.train_samples > 0, "train controls need train_samples > 0 (the subset)");
  autocast_ = autocast_dtype(s.precision, "eval.precision");
  if (need_bn) {
    // The BN subset is a prefix of the train subset: share the memory when it is the same.
    const int64_t nbn = (s.bn_samples <= 0 || s.bn_samples >= data.train.size()) ? data.train.size() : s.bn_samples;
    if (train_images_.defined() && train_images_.size(0) == nbn)
      bn_images_ = train_images_;
    else
      bn_images_ = take(data.train, s.bn_samples, perm, device).first;
  }
  if (s.test_samples >= 0) {
    // Test subsets are the first N test examples (nothing to gain from permuting them).
    const int64_t nte = (s.test_samples == 0 || s.test_samples > data.test.size()) ? data.test.size() : s.test_samples;
    test_images_ = data.test.images.narrow(0, 0, nte).to(device).contiguous();
    test_labels_ = data.test.labels.narrow(0, 0, nte).to(device).contiguous();
  }
  if (s.fast_engine) engine_ = FoldedNetwork::build(net);
  if (engine_) {
    // The data once in the engine's layout (channels-last): batches are then views (narrow),
    // for the recalibration pass as for the eval passes.
    const bool shared = bn_images_.defined() && train_images_.defined() && bn_images_.is_same(train_images_);
    if (train_images_.defined()) train_images_ = engine_->prepare_input(train_images_);
    if (bn_images_.defined()) bn_images_ = shared ? train_images_ : engine_->prepare_input(bn_images_);
    if (test_images_.defined()) test_images_ = engine_->prepare_input(test_images_);
  }
}

torch::Tensor PointEvaluator::forward_eval(const torch::Tensor& x) {
  return engine_ ? engine_->forward(x) : net_.forward(x);
}

EvalSums PointEvaluator::sums_of(const torch::Tensor& images, const torch::Tensor& labels) {
  // Sums on the device, read once per point by evaluate_current; NLL of float32 logits.
  if (!engine_)
    return evaluate_sums(net_, images, labels, images.size(0), images.device(), settings_.batch_size, torch::kFloat32);
  // The engine's loop: the same additions in the same order as evaluate_sums.
  c10::InferenceMode guard;
  const int64_t n = images.size(0);
  const auto opt = torch::TensorOptions().device(images.device());
  EvalSums r{torch::zeros({}, opt.dtype(torch::kFloat64)), torch::zeros({}, opt.dtype(torch::kInt64)), n};
  for (int64_t s = 0; s < n; s += settings_.batch_size) {
    const int64_t b = std::min(settings_.batch_size, n - s);
    const auto y = labels.narrow(0, s, b);
    const auto logits = engine_->forward(images.narrow(0, s, b)).to(torch::kFloat32);
    r.loss_sum.add_(torch::nn::functional::cross_entropy(
        logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)));
    r.correct.add_(logits.argmax(1).eq(y).sum());
  }
  return r;
}

void PointEvaluator::set_train_controls(const std::vector<torch::Tensor>& per_example_nll) {
  if (per_example_nll.empty()) {
    controls_ = control_means_ = torch::Tensor();
    return;
  }
  CL_CHECK_INPUT(train_index_.defined(), "train controls need the train metrics (train_samples >= 0)");
  std::vector<torch::Tensor> cols;
  for (const auto& c : per_example_nll) {
    CL_CHECK_INPUT(c.dim() == 1 && c.size(0) > train_index_.max().item<int64_t>(),
                   "a train control must hold one value per training example (" + std::to_string(c.numel()) + ")");
    cols.push_back(c.to(device_, torch::kFloat64));
  }
  const torch::Tensor all = torch::stack(cols, 1);  // (N, K)
  control_means_ = all.mean(0);
  controls_ = all.index_select(0, train_index_.to(device_)).contiguous();
}

torch::Tensor PointEvaluator::per_example_nll(const Dataset& ds) {
  const bool was_training = net_.is_training();
  net_.train(false);
  if (engine_) engine_->refresh();
  std::vector<torch::Tensor> parts;
  {
    c10::InferenceMode guard;
    const torch::Tensor images = engine_ ? engine_->prepare_input(ds.images.to(device_)) : ds.images.to(device_);
    const torch::Tensor labels = ds.labels.to(device_);
    for (int64_t s = 0; s < ds.size(); s += settings_.batch_size) {
      const int64_t b = std::min(settings_.batch_size, ds.size() - s);
      parts.push_back(torch::nn::functional::cross_entropy(
                          forward_eval(images.narrow(0, s, b)).to(torch::kFloat32), labels.narrow(0, s, b),
                          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
                          .to(torch::kFloat64));
    }
  }
  net_.train(was_training);
  return parts.empty() ? torch::zeros({0}, torch::kFloat64) : torch::cat(parts).clone();
}

void PointEvaluator::adaptive_train(PointMetrics& m) {
  c10::InferenceMode guard;
  const int64_t n = train_images_.size(0);
  const int64_t chunk = std::max(settings_.train_chunk, int64_t(1));
  const bool cv = controls_.defined();
  std::vector<torch::Tensor> losses;
  torch::Tensor correct = torch::zeros({}, torch::TensorOptions().device(device_).dtype(torch::kInt64));
  int64_t read = 0;
  double est = 0, se = 0;
  while (read < n) {
    const int64_t end = std::min(n, read + chunk);
    for (int64_t s = read; s < end; s += settings_.batch_size) {
      const int64_t b = std::min(settings_.batch_size, end - s);
      const auto y = train_labels_.narrow(0, s, b);
      const auto logits = forward_eval(train_images_.narrow(0, s, b)).to(torch::kFloat32);
      losses.push_back(torch::nn::functional::cross_entropy(
                           logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
                           .to(torch::kFloat64));
      correct.add_(logits.argmax(1).eq(y).sum());
    }
    read = end;
    const torch::Tensor l = torch::cat(losses);
    const double mean = l.mean().item<double>();
    if (cv && read > controls_.size(1) + 2) {
      // Regression estimator: l = a + C beta + e over the subset read so far.
      const torch::Tensor C = controls_.narrow(0, 0, read);
      const torch::Tensor cm = C.mean(0);
      const torch::Tensor Cc = C - cm, lc = l - mean;
      const int64_t K = C.size(1);
      const torch::Tensor G = Cc.t().mm(Cc) + 1e-12 * torch::eye(K, Cc.options()) * (Cc.pow(2).sum() + 1e-300);
      const torch::Tensor beta = at::linalg_solve(G, Cc.t().mv(lc));
      const torch::Tensor resid = lc - Cc.mv(beta);
      est = mean - (cm - control_means_).dot(beta).item<double>();
      se = std::sqrt(resid.pow(2).sum().item<double>() / double(read - K - 1) / double(read));
    } else {
      est = mean;
      se = read > 1 ? l.std().item<double>() / std::sqrt(double(read)) : 0.0;
    }
    if (settings_.train_rel_se > 0 && se <= settings_.train_rel_se * std::fabs(est)) break;
  }
  m.tr_nll = est;
  m.tr_nll_se = se;
  m.tr_examples = read;
  m.tr_err = double(read - correct.item<int64_t>()) / double(read);
}

PointMetrics PointEvaluator::evaluate_flat(const torch::Tensor& flat) {
  load_flat_parameters(net_, flat);
  return evaluate_current();
}

PointMetrics PointEvaluator::evaluate_current() {
  PointMetrics m;
  using clock = std::chrono::steady_clock;
  auto since = [](clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); };
  const bool was_training = net_.is_training();
  // The phases are queued on the device and read back together at the end (one host
  // synchronisation per point); on a GPU the phase timings are therefore enqueue times, and
  // the waiting shows in the last phase that has work.
  auto t0 = clock::now();
  if (bn_images_.defined()) {
    if (engine_) {
      c10::InferenceMode guard;  // buffers are updated in place; nothing here needs autograd
      recalibrate_batchnorm_images(net_, bn_images_, settings_.bn_batch_size);
    } else {
      recalibrate_batchnorm_images(net_, bn_images_, settings_.bn_batch_size);
    }
  }
  if (engine_) engine_->refresh();
  timing_.bn = since(t0);
  const torch::Tensor sq_t = flat_parameters(net_, torch::kFloat64).pow(2).sum();
  net_.train(false);
  t0 = clock::now();
  EvalSums tr{}, te{};
  AutocastScope amp(device_, autocast_);  // bf16: the loss passes
  const bool adaptive = train_images_.defined() && (controls_.defined() || settings_.train_rel_se > 0) &&
                        settings_.train_samples > 0;
  if (adaptive) adaptive_train(m);
  else if (train_images_.defined()) tr = sums_of(train_images_, train_labels_);
  timing_.train = since(t0);
  t0 = clock::now();
  if (test_images_.defined()) te = sums_of(test_images_, test_labels_);
  // One transfer: ||w||^2, train NLL sum and correct count, test NLL sum and correct count
  // (counts are exact in float64).
  torch::Tensor host;
  {
    c10::InferenceMode guard;  // the sums are inference tensors
    std::vector<torch::Tensor> parts = {sq_t.reshape({1})};
    for (const EvalSums* r : {&tr, &te})
      if (r->loss_sum.defined()) {
        parts.push_back(r->loss_sum.reshape({1}));
        parts.push_back(r->correct.to(torch::kFloat64).reshape({1}));
      }
    host = torch::cat(parts).cpu().contiguous();
  }
  const double* v = host.data_ptr<double>();
  timing_.test = since(t0);
  const double sq = v[0];
  m.weight_norm = std::sqrt(sq);
  const double penalty = 0.5 * settings_.weight_decay * sq;
  int k = 1;
  if (tr.loss_sum.defined()) {
    m.tr_nll = v[k] / double(tr.n);
    m.tr_err = (double(tr.n) - v[k + 1]) / double(tr.n);
    m.tr_loss = m.tr_nll + penalty;
    m.tr_examples = tr.n;
    if (settings_.train_samples <= 0) m.tr_nll_se = 0;  // the whole set: no sampling error
    k += 2;
  }
  if (adaptive) m.tr_loss = m.tr_nll + penalty;
  if (te.loss_sum.defined()) {
    m.te_nll = v[k] / double(te.n);
    m.te_err = (double(te.n) - v[k + 1]) / double(te.n);
    m.te_loss = m.te_nll + penalty;
  }
  net_.train(was_training);
  return m;
}

}  // namespace closerlook
