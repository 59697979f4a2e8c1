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
    for (int64_t s = 0; s < n; s += batch_size) {
      const int64_t b = std::min(batch_size, n - s);
      auto x = ds.images.narrow(0, s, b).to(device);
      auto y = ds.labels.narrow(0, s, b).to(device);
      auto logits = net.forward(x);
      loss_sum += torch::nn::functional::cross_entropy(
                      logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
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
