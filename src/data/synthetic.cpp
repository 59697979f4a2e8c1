#include "data/synthetic.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "data/counter_rng.h"

namespace closerlook {

torch::Tensor synthetic_pattern(int64_t cls, int64_t channels, int64_t size, int64_t classes) {
  const double pi = 3.14159265358979323846;
  const double angle = pi * static_cast<double>(cls) / static_cast<double>(classes);
  const double freq = 2.0 + static_cast<double>(cls % 3);  // cycles across the image
  torch::Tensor coord = torch::arange(size, torch::kFloat64) / static_cast<double>(size);
  torch::Tensor yy = coord.view({size, 1}), xx = coord.view({1, size});
  torch::Tensor proj = xx * std::cos(angle) + yy * std::sin(angle);
  std::vector<torch::Tensor> chans;
  for (int64_t c = 0; c < channels; ++c) {
    const double phase = 2.0 * pi * static_cast<double>(c) / static_cast<double>(channels + 1);
    chans.push_back(0.5 + 0.4 * torch::sin(2.0 * pi * freq * proj + phase));
  }
  return torch::stack(chans).to(torch::kFloat32);
}

RawImages make_synthetic(int64_t n, int64_t channels, int64_t size, int64_t classes, uint64_t seed, int split) {
  auto gen = at::detail::createCPUGenerator(
      mix_keys({seed, static_cast<uint64_t>(RngStream::Synthetic), static_cast<uint64_t>(split)}));
  RawImages raw;
  raw.labels = torch::randint(classes, {n}, gen, torch::kInt64);
  std::vector<torch::Tensor> patterns;
  for (int64_t k = 0; k < classes; ++k) patterns.push_back(synthetic_pattern(k, channels, size, classes));
  torch::Tensor protos = torch::stack(patterns);  // (K, C, S, S)
  raw.images = protos.index_select(0, raw.labels) + 0.25 * torch::randn({n, channels, size, size}, gen, torch::kFloat32);
  return raw;
}

}  // namespace closerlook
