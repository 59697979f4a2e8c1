#include "train/evaluate.h"

namespace closerlook {

EvalSums evaluate_sums(Network& net, const torch::Tensor& images, const torch::Tensor& labels, int64_t n,
                       torch::Device device, int64_t batch_size, std::optional<torch::ScalarType> logits_dtype) {
  c10::InferenceMode guard;
  const auto opt = torch::TensorOptions().device(device);
  EvalSums r{torch::zeros({}, opt.dtype(torch::kFloat64)), torch::zeros({}, opt.dtype(torch::kInt64)), n};
  for (int64_t s = 0; s < n; s += batch_size) {
    const int64_t b = std::min(batch_size, n - s);
    auto x = images.narrow(0, s, b).to(device, /*non_blocking=*/true);
    auto y = labels.narrow(0, s, b).to(device, /*non_blocking=*/true);
    auto logits = net.forward(x);
    r.loss_sum.add_(torch::nn::functional::cross_entropy(
        logits_dtype ? logits.to(*logits_dtype) : logits, y,
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)));
    r.correct.add_(logits.argmax(1).eq(y).sum());
  }
  return r;
}

EvalResult evaluate(Network& net, const Dataset& ds, torch::Device device, int64_t batch_size, int64_t limit) {
  const int64_t n = (limit > 0 && limit < ds.size()) ? limit : ds.size();
  const bool was_training = net.is_training();
  net.train(false);
  double loss_sum = 0;
  int64_t correct = 0;
  {
    c10::InferenceMode guard;
    const EvalSums sums = evaluate_sums(net, ds.images, ds.labels, n, device, batch_size);
    if (n > 0) {
      loss_sum = sums.loss_sum.item<double>();
      correct = sums.correct.item<int64_t>();  // the first item() waited for the device already
    }
  }
  net.train(was_training);
  EvalResult r;
  r.n = n;
  r.loss = n > 0 ? loss_sum / double(n) : 0.0;
  r.accuracy = n > 0 ? double(correct) / double(n) : 0.0;
  return r;
}

}  // namespace closerlook
