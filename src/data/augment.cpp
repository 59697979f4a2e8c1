#include "data/augment.h"

#include <string>

#include "core/error.h"

namespace closerlook {

std::vector<double> normalised_black(const std::vector<double>& mean, const std::vector<double>& std, int64_t channels) {
  if (mean.empty()) return std::vector<double>(static_cast<size_t>(channels), 0.0);
  if (static_cast<int64_t>(mean.size()) != channels || std.size() != mean.size())
    throw Error(ExitCode::Internal, "dataset normalisation has " + std::to_string(mean.size()) + " means and " +
                                        std::to_string(std.size()) + " stds for " + std::to_string(channels) +
                                        " channels");
  std::vector<double> fill(mean.size());
  for (size_t c = 0; c < mean.size(); ++c) fill[c] = -mean[c] / std[c];
  return fill;
}

torch::Tensor apply_augment(const torch::Tensor& x, const std::vector<ExampleAugment>& ops, int64_t pad,
                            const std::vector<double>& fill) {
  TORCH_CHECK(x.dim() == 4, "apply_augment expects (B, C, H, W), got ", x.sizes());
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(static_cast<int64_t>(ops.size()) == B, "apply_augment: ", ops.size(), " ops for batch ", B);
  TORCH_CHECK(pad >= 0 && static_cast<int64_t>(fill.size()) == C, "apply_augment: bad pad or fill");
  torch::Tensor src = x;
  if (pad > 0) {
    // One padded buffer for the whole batch, filled per channel with normalised black.
    src = torch::empty({B, C, H + 2 * pad, W + 2 * pad}, x.options());
    for (int64_t c = 0; c < C; ++c) src.select(1, c).fill_(fill[static_cast<size_t>(c)]);
    src.narrow(2, pad, H).narrow(3, pad, W).copy_(x);
  }
  torch::Tensor out = torch::empty_like(x);
  for (int64_t j = 0; j < B; ++j) {
    const ExampleAugment& op = ops[static_cast<size_t>(j)];
    TORCH_CHECK(op.dy >= 0 && op.dy <= 2 * pad && op.dx >= 0 && op.dx <= 2 * pad, "apply_augment: crop offset (",
                op.dy, ", ", op.dx, ") outside [0, ", 2 * pad, "]");
    torch::Tensor crop = src[j].narrow(1, op.dy, H).narrow(2, op.dx, W);
    out[j].copy_(op.flip ? crop.flip({2}) : crop);
  }
  return out;
}

}  // namespace closerlook
