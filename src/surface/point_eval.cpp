#include "surface/point_eval.h"

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "surface/bn_recalibration.h"
#include "surface/weights.h"

namespace closerlook {

nlohmann::json EvalSettings::to_json() const {
  return {{"bn_samples", bn_samples},       {"train_samples", train_samples}, {"test_samples", test_samples},
          {"batch_size", batch_size},       {"bn_batch_size", bn_batch_size}, {"weight_decay", weight_decay},
          {"subset_seed", subset_seed}};
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
  if (need_train) std::tie(train_images_, train_labels_) = take(data.train, s.train_samples, perm, device);
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
}

EvalSums PointEvaluator::sums_of(const torch::Tensor& images, const torch::Tensor& labels) {
  // Sums on the device, read once per point by evaluate_current; NLL of float32 logits.
  return evaluate_sums(net_, images, labels, images.size(0), images.device(), settings_.batch_size, torch::kFloat32);
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
  if (bn_images_.defined()) recalibrate_batchnorm_images(net_, bn_images_, settings_.bn_batch_size);
  timing_.bn = since(t0);
  const torch::Tensor sq_t = flat_parameters(net_, torch::kFloat64).pow(2).sum();
  net_.train(false);
  t0 = clock::now();
  EvalSums tr{}, te{};
  if (train_images_.defined()) tr = sums_of(train_images_, train_labels_);
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
    k += 2;
  }
  if (te.loss_sum.defined()) {
    m.te_nll = v[k] / double(te.n);
    m.te_err = (double(te.n) - v[k + 1]) / double(te.n);
    m.te_loss = m.te_nll + penalty;
  }
  net_.train(was_training);
  return m;
}

}  // namespace closerlook
