#include "data/normalize.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace closerlook {

ChannelStats channel_stats(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "channel_stats expects (N, C, H, W)");
  const int64_t n = x.size(0), c = x.size(1);
  const double scale = x.scalar_type() == torch::kUInt8 ? 1.0 / 255.0 : 1.0;
  torch::Tensor sum = torch::zeros({c}, torch::kFloat64), sq = torch::zeros({c}, torch::kFloat64);
  const int64_t chunk = 2048;
  for (int64_t s = 0; s < n; s += chunk) {
    torch::Tensor part = x.narrow(0, s, std::min(chunk, n - s)).to(torch::kFloat64) * scale;
    sum += part.sum({0, 2, 3});
    sq += part.square().sum({0, 2, 3});
  }
  const double count = static_cast<double>(n * x.size(2) * x.size(3));
  ChannelStats st;
  for (int64_t k = 0; k < c; ++k) {
    const double m = count > 0 ? sum[k].item<double>() / count : 0.0;
    const double var = count > 0 ? std::max(0.0, sq[k].item<double>() / count - m * m) : 0.0;
    st.mean.push_back(m);
    st.std.push_back(var > 1e-24 ? std::sqrt(var) : 1.0);
  }
  return st;
}

torch::Tensor normalize_images(const torch::Tensor& x, const std::vector<double>& mean, const std::vector<double>& std) {
  const int64_t c = x.size(1);
  TORCH_CHECK(static_cast<int64_t>(mean.size()) == c && static_cast<int64_t>(std.size()) == c,
              "normalize_images: ", mean.size(), " means for ", c, " channels");
  torch::Tensor out = x.to(torch::kFloat32);
  if (x.scalar_type() == torch::kUInt8) out.div_(255.0);
  else if (out.data_ptr() == x.data_ptr()) out = out.clone();  // never modify the caller's tensor
  for (int64_t k = 0; k < c; ++k) out.select(1, k).sub_(mean[static_cast<size_t>(k)]).div_(std[static_cast<size_t>(k)]);
  return out;
}

torch::Tensor pad_images_to(const torch::Tensor& x, int64_t size, const std::string& what) {
  const int64_t h = x.size(2), w = x.size(3);
  if (size <= 0 || (size == h && size == w)) return x;
  if (size < h || size < w)
    throw_bad_input("data.pad_to = " + std::to_string(size) + " is smaller than the " + std::to_string(h) + "x" +
                    std::to_string(w) + " images of " + what);
  const int64_t top = (size - h) / 2, left = (size - w) / 2;
  torch::Tensor out = torch::zeros({x.size(0), x.size(1), size, size}, x.options());
  out.narrow(2, top, h).narrow(3, left, w).copy_(x);
  return out;
}

}  // namespace closerlook
