#include "train/evaluate.h"

namespace closerlook {

EvalResult evaluate(Network& net, const Dataset& ds, torch::Device device, int64_t batch_size, int64_t limit) {
  const int64_t n = (limit > 0 && limit < ds.size()) ? limit : ds.size();
  const bool was_training = net.is_training();
  net.train(false);
  double loss_sum = 0;
  int64_t correct = 0;
  {
    c10::InferenceMode guard;
    // Sums stay on the device (float64 loss, int64 count): one host synchronisation per
    // evaluation instead of two per batch. Same additions in the same order as summing the
    // batches' values on the host, so CPU results are unchanged.
    const auto opt = torch::TensorOptions().device(device);
    torch::Tensor loss_t = torch::zeros({}, opt.dtype(torch::kFloat64));
    torch::Tensor correct_t = torch::zeros({}, opt.dtype(torch::kInt64));
    for (int64_t s = 0; s < n; s += batch_size) {
      const int64_t b = std::min(batch_size, n - s);
      auto x = ds.images.narrow(0, s, b).to(device, /*non_blocking=*/true);
      auto y = ds.labels.narrow(0, s, b).to(device, /*non_blocking=*/true);
      auto logits = net.forward(x);
      loss_t.add_(torch::nn::functional::cross_entropy(
          logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)));
      correct_t.add_(logits.argmax(1).eq(y).sum());
    }
    if (n > 0) {
      loss_sum = loss_t.item<double>();
      correct = correct_t.item<int64_t>();  // the first item() waited for the device already
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
