#include "data/augment.h"

#include <ATen/Parallel.h>

#include <algorithm>
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

namespace {

// CPU float32 fast path: one pass writing each output pixel from the source or the fill value,
// without building the padded buffer (per-example tensor ops cost ~40 us each, which made
// augmentation as slow as the forward pass of a small CNN).
// `example(j)` gives the first float of example j's (C, H, W) block.
template <class ExamplePtr>
void augment_cpu_float(ExamplePtr example, int64_t C, int64_t H, int64_t W, torch::Tensor& out,
                       const std::vector<ExampleAugment>& ops, int64_t pad, const std::vector<double>& fill) {
  const int64_t B = out.size(0);
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, B, 16, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const ExampleAugment& op = ops[static_cast<size_t>(j)];
      for (int64_t c = 0; c < C; ++c) {
        const float f = static_cast<float>(fill[static_cast<size_t>(c)]);
        const float* s = example(j) + c * H * W;
        float* d = dst + (j * C + c) * H * W;
        for (int64_t y = 0; y < H; ++y) {
          const int64_t sy = y + op.dy - pad;
          float* row = d + y * W;
          if (sy < 0 || sy >= H) {
            std::fill(row, row + W, f);
            continue;
          }
          const float* srow = s + sy * W;
          for (int64_t xo = 0; xo < W; ++xo) {
            const int64_t xc = op.flip ? W - 1 - xo : xo;  // column of the (unflipped) crop
            const int64_t sx = xc + op.dx - pad;
            row[xo] = (sx < 0 || sx >= W) ? f : srow[sx];
          }
        }
      }
    }
  });
}

}  // namespace

namespace {
void check_ops(const std::vector<ExampleAugment>& ops, int64_t pad) {
  for (const ExampleAugment& op : ops)
    TORCH_CHECK(op.dy >= 0 && op.dy <= 2 * pad && op.dx >= 0 && op.dx <= 2 * pad, "apply_augment: crop offset (",
                op.dy, ", ", op.dx, ") outside [0, ", 2 * pad, "]");
}
}  // namespace

torch::Tensor gather_augment(const torch::Tensor& images, const torch::Tensor& idx,
                             const std::vector<ExampleAugment>& ops, int64_t pad, const std::vector<double>& fill) {
  TORCH_CHECK(static_cast<int64_t>(ops.size()) == idx.numel(), "gather_augment: ", ops.size(), " ops for ",
              idx.numel(), " indices");
  if (!(images.device().is_cpu() && images.scalar_type() == torch::kFloat32 && images.is_contiguous()))
    return apply_augment(images.index_select(0, idx), ops, pad, fill);
  const int64_t C = images.size(1), H = images.size(2), W = images.size(3);
  TORCH_CHECK(pad >= 0 && static_cast<int64_t>(fill.size()) == C, "gather_augment: bad pad or fill");
  check_ops(ops, pad);
  torch::Tensor index = idx.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t* ix = index.data_ptr<int64_t>();
  const int64_t n = images.size(0);
  for (int64_t j = 0; j < index.numel(); ++j) TORCH_CHECK(ix[j] >= 0 && ix[j] < n, "gather_augment: index ", ix[j]);
  torch::Tensor out = torch::empty({index.numel(), C, H, W}, images.options());
  const float* src = images.data_ptr<float>();
  augment_cpu_float([&](int64_t j) { return src + ix[j] * C * H * W; }, C, H, W, out, ops, pad, fill);
  return out;
}

torch::Tensor augment_ops_tensor(const std::vector<ExampleAugment>& ops) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(ops.size()), 3}, torch::kInt64);
  int64_t* p = t.data_ptr<int64_t>();
  for (size_t j = 0; j < ops.size(); ++j) {
    p[3 * j] = ops[j].dy;
    p[3 * j + 1] = ops[j].dx;
    p[3 * j + 2] = ops[j].flip ? 1 : 0;
  }
  return t;
}

torch::Tensor gather_augment_tensor(const torch::Tensor& images, const torch::Tensor& idx, const torch::Tensor& ops,
                                    int64_t pad, const torch::Tensor& fill) {
  TORCH_CHECK(images.dim() == 4, "gather_augment: images must be (N, C, H, W), got ", images.sizes());
  const int64_t B = idx.numel(), C = images.size(1), H = images.size(2), W = images.size(3);
  TORCH_CHECK(ops.dim() == 2 && ops.size(0) == B && ops.size(1) == 3, "gather_augment: ops must be (", B,
              ", 3), got ", ops.sizes());
  TORCH_CHECK(pad >= 0 && fill.numel() == C, "gather_augment: bad pad or fill");
  const auto dev = images.device();
  const auto iopt = torch::TensorOptions().dtype(torch::kInt64).device(dev);
  const torch::Tensor o = ops.to(iopt);
  const torch::Tensor ix = idx.to(iopt).reshape({B});
  // Source row/column of every output row/column; out-of-image positions take the fill value.
  // Offsets are clamped into the padded image, so no choice can address memory outside it.
  const torch::Tensor dy = o.select(1, 0).clamp(0, 2 * pad) - pad, dx = o.select(1, 1).clamp(0, 2 * pad) - pad;
  const torch::Tensor flip = o.select(1, 2).ne(0);
  const torch::Tensor ar_h = torch::arange(H, iopt), ar_w = torch::arange(W, iopt);
  torch::Tensor sy = ar_h.unsqueeze(0) + dy.unsqueeze(1);                                           // (B, H)
  torch::Tensor sx = torch::where(flip.unsqueeze(1), (W - 1) - ar_w, ar_w).add_(dx.unsqueeze(1));  // (B, W)
  const torch::Tensor vy = sy.ge(0).logical_and_(sy.lt(H)), vx = sx.ge(0).logical_and_(sx.lt(W));
  sy.clamp_(0, H - 1);
  sx.clamp_(0, W - 1);
  const torch::Tensor lin = (ix * (C * H * W)).view({B, 1, 1, 1}) + (torch::arange(C, iopt) * (H * W)).view({1, C, 1, 1}) +
                            (sy * W).view({B, 1, H, 1}) + sx.view({B, 1, 1, W});
  const torch::Tensor src = images.contiguous().view({-1}).take(lin);  // (B, C, H, W)
  const torch::Tensor valid = vy.view({B, 1, H, 1}).logical_and(vx.view({B, 1, 1, W}));
  return torch::where(valid, src, fill.to(images.options()).view({1, C, 1, 1})).contiguous();
}

torch::Tensor apply_augment(const torch::Tensor& x, const std::vector<ExampleAugment>& ops, int64_t pad,
                            const std::vector<double>& fill) {
  TORCH_CHECK(x.dim() == 4, "apply_augment expects (B, C, H, W), got ", x.sizes());
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(static_cast<int64_t>(ops.size()) == B, "apply_augment: ", ops.size(), " ops for batch ", B);
  TORCH_CHECK(pad >= 0 && static_cast<int64_t>(fill.size()) == C, "apply_augment: bad pad or fill");
  check_ops(ops, pad);
  if (x.device().is_cpu() && x.scalar_type() == torch::kFloat32) {
    torch::Tensor xc = x.contiguous();
    torch::Tensor out = torch::empty_like(xc, torch::MemoryFormat::Contiguous);
    const float* src = xc.data_ptr<float>();
    augment_cpu_float([&](int64_t j) { return src + j * C * H * W; }, C, H, W, out, ops, pad, fill);
    return out;
  }
  // General path (other devices/dtypes): whole-batch tensor operations on x's device.
  const torch::Tensor fill_t = torch::tensor(fill, torch::kFloat64).to(x.options());
  return gather_augment_tensor(x, torch::arange(B, torch::kInt64), augment_ops_tensor(ops).to(x.device()), pad,
                               fill_t);
}

}  // namespace closerlook
