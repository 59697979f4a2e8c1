#include "surface/bn_recalibration.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "data/counter_rng.h"

namespace closerlook {

torch::Tensor seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  KeyedRng rng(mix_keys({seed, 0x5eedb41cULL}));
  for (int64_t i = n - 1; i > 0; --i) std::swap(idx[i], idx[rng.below(static_cast<uint64_t>(i + 1))]);
  return torch::tensor(idx, torch::kInt64);
}

namespace {

// [start, size) of each batch; a trailing batch of one example (no variance) joins the previous one.
std::vector<std::pair<int64_t, int64_t>> batch_ranges(int64_t n, int64_t batch_size) {
  std::vector<std::pair<int64_t, int64_t>> r;
  for (int64_t s = 0; s < n; s += batch_size) r.emplace_back(s, std::min(batch_size, n - s));
  if (r.size() >= 2 && r.back().second == 1) {
    r.pop_back();
    r.back().second += 1;
  }
  return r;
}

}  // namespace

int64_t recalibrate_batchnorm_images(Network& net, const torch::Tensor& images, int64_t batch_size) {
  auto bns = net.batchnorms();
  if (bns.empty()) return 0;
  CL_CHECK_INPUT(batch_size >= 2, "BN recalibration batch size must be >= 2, got " + std::to_string(batch_size));
  const int64_t n = images.size(0);
  CL_CHECK_INPUT(n >= 2, "BN recalibration needs at least 2 examples, got " + std::to_string(n));

  const bool was_training = net.is_training();
  std::vector<double> momenta;
  std::vector<torch::Tensor> sum_mean, sum_var;
  for (auto& bn : bns) {
    momenta.push_back(bn.get_momentum());
    bn.set_momentum(1.0);  // after each batch the buffers hold exactly that batch's statistics
    sum_mean.push_back(torch::zeros(bn.running_mean.sizes(), bn.running_mean.options().dtype(torch::kFloat64)));
    sum_var.push_back(torch::zeros(bn.running_var.sizes(), bn.running_var.options().dtype(torch::kFloat64)));
  }
  net.train(true);
  int64_t seen = 0;
  {
    torch::NoGradGuard ng;
    for (const auto& [start, b] : batch_ranges(n, batch_size)) {
      for (auto& bn : bns) {  // finite start values: momentum 1 computes 0 * old + batch
        bn.running_mean.zero_();
        bn.running_var.fill_(1.0);
      }
      net.forward(images.narrow(0, start, b));
      for (size_t l = 0; l < bns.size(); ++l) {
        sum_mean[l].add_(bns[l].running_mean.to(torch::kFloat64), static_cast<double>(b));
        sum_var[l].add_(bns[l].running_var.to(torch::kFloat64), static_cast<double>(b));
      }
      seen += b;
    }
    for (size_t l = 0; l < bns.size(); ++l) {
      bns[l].running_mean.copy_(sum_mean[l] / static_cast<double>(seen));
      bns[l].running_var.copy_(sum_var[l] / static_cast<double>(seen));
    }
  }
  for (size_t l = 0; l < bns.size(); ++l) bns[l].set_momentum(momenta[l]);
  net.train(was_training);
  return seen;
}

int64_t recalibrate_batchnorm(Network& net, const Dataset& data, torch::Device device,
                              const BnRecalibrationOptions& opts) {
  if (!net.has_batchnorm()) return 0;
  const int64_t total = opts.order.defined() ? opts.order.numel() : data.size();
  const int64_t n = (opts.samples > 0 && opts.samples < total) ? opts.samples : total;
  // The subset is gathered where the data live (on the device when the dataset is there) and
  // moved at most once.
  torch::Tensor images;
  if (opts.order.defined()) {
    images = data.images.index_select(0, opts.order.narrow(0, 0, n).to(data.images.device(), torch::kInt64));
  } else {
    images = data.images.narrow(0, 0, n);
  }
  return recalibrate_batchnorm_images(net, images.to(device), opts.batch_size);
}

}  // namespace closerlook
