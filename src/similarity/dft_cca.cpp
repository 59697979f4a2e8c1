#include "similarity/dft_cca.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "similarity/google_cca.h"

namespace closerlook {
namespace {

// numpy.fft.fftfreq(size, d=1/size) at index k: 0, 1, ..., ceil(size/2)-1, -floor(size/2), ..., -1.
int64_t fft_frequency(int64_t k, int64_t size) { return k <= (size - 1) / 2 ? k : k - size; }

// fft_resize along one axis: indices k (ascending, i.e. fftfreq order) whose frequency f has
// -kept/2 <= f < kept/2. With kept == size every index survives.
std::vector<int64_t> overlapping_indices(int64_t size, int64_t kept) {
  std::vector<int64_t> idx;
  for (int64_t k = 0; k < size; ++k) {
    const int64_t f = fft_frequency(k, size);
    if (2 * f >= -kept && 2 * f < kept) idx.push_back(k);
  }
  return idx;
}

// [N, C, H, W] float64 on the CPU, validated.
torch::Tensor to_nchw(const torch::Tensor& t, SpatialLayout layout, const std::string& name) {
  if (!t.defined()) throw_bad_input(name + ": no activations (undefined tensor)");
  if (t.dim() != 4)
    throw_bad_input(fmt::format("{}: dft-cca needs 4-D conv activations ({}), got {} dimensions", name,
                                layout == SpatialLayout::Nchw ? "[N, C, H, W]" : "[N, H, W, C]", t.dim()));
  if (!t.is_floating_point())
    throw_bad_input(fmt::format("{}: expected floating-point activations, got {}", name,
                                std::string(c10::toString(t.scalar_type()))));
  auto x = t.detach().to(torch::kCPU, torch::kFloat64);
  if (layout == SpatialLayout::Nhwc) x = x.permute({0, 3, 1, 2});
  x = x.contiguous();
  for (int64_t d = 0; d < 4; ++d)
    if (x.size(d) == 0) throw_bad_input(fmt::format("{}: empty array (axis {} of [N, C, H, W] has size 0)", name, d));
  if (!torch::isfinite(x).all().item<bool>()) throw_bad_input(name + ": contains NaN or inf");
  return x;
}

}  // namespace

std::string layout_name(SpatialLayout l) { return l == SpatialLayout::Nhwc ? "nhwc" : "nchw"; }

SpatialLayout parse_layout(const std::string& name) {
  if (name == "nchw") return SpatialLayout::Nchw;
  if (name == "nhwc") return SpatialLayout::Nhwc;
  throw_bad_input("unknown layout '" + name + "' (expected nchw, LibTorch's [N, C, H, W], or nhwc, google's)");
}

DftCcaResult dft_cca(const torch::Tensor& x_in, const torch::Tensor& y_in, const SimilarityOptions& opts,
                     SpatialLayout layout, const std::string& x_name, const std::string& y_name) {
  validate_options(opts);
  torch::NoGradGuard no_grad;
  const auto x = to_nchw(x_in, layout, x_name), y = to_nchw(y_in, layout, y_name);
  DftCcaResult r;
  r.n = x.size(0);
  r.channels_x = x.size(1);
  r.channels_y = y.size(1);
  r.height_x = x.size(2);
  r.width_x = x.size(3);
  r.height_y = y.size(2);
  r.width_y = y.size(3);
  if (y.size(0) != r.n)
    throw_bad_input(fmt::format("{} has {} examples but {} has {}", x_name, r.n, y_name, y.size(0)));

  // fft_resize: the overlapping low frequencies of both layers, per axis.
  const int64_t rows = std::min(r.height_x, r.height_y), cols = std::min(r.width_x, r.width_y);
  auto spectrum = [&](const torch::Tensor& a) {
    auto f = torch::fft::fft2(a, c10::nullopt, {2, 3});  // complex128 [N, C, H, W]
    const auto ri = overlapping_indices(a.size(2), rows), ci = overlapping_indices(a.size(3), cols);
    f = f.index_select(2, torch::tensor(ri, torch::kLong)).index_select(3, torch::tensor(ci, torch::kLong));
    return f.permute({2, 3, 0, 1}).contiguous();  // [rows, cols, N, C]: one N x C matrix per frequency
  };
  const auto fx = spectrum(x), fy = spectrum(y);
  // Both layers keep the same frequencies in the same order; record them from x.
  for (int64_t k : overlapping_indices(r.height_x, rows)) r.row_frequencies.push_back(fft_frequency(k, r.height_x));
  for (int64_t k : overlapping_indices(r.width_x, cols)) r.col_frequencies.push_back(fft_frequency(k, r.width_x));

  r.per_frequency = torch::zeros({rows, cols}, torch::kFloat64);
  auto acc = r.per_frequency.accessor<double, 2>();
  int64_t pruned = 0;
  double total = 0.0;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      const GoogleCca g = google_cca(fx[i][j], fy[i][j], opts.google_epsilon, opts.google_threshold, x_name);
      r.clamped_eigenvalues += g.clamped_eigenvalues;
      if (g.empty) {
        ++r.empty_frequencies;
        acc[i][j] = 0.0;  // google's create_zero_dict: mean (0, 0)
      } else {
        acc[i][j] = g.mean;
        if (g.x_keep.sum().item<int64_t>() < r.channels_x || g.y_keep.sum().item<int64_t>() < r.channels_y) ++pruned;
      }
      total += acc[i][j];
    }
  r.value = total / double(rows * cols);

  if (r.height_x != r.height_y || r.width_x != r.width_y)
    r.warnings.push_back(fmt::format(
        "dft-cca: spatial sizes differ ({}x{} vs {}x{}); compared the {}x{} overlapping low frequencies (fft_resize)",
        r.height_x, r.width_x, r.height_y, r.width_y, rows, cols));
  if (r.clamped_eigenvalues > 0)
    r.warnings.push_back(fmt::format(
        "google compat: clamped {} negative eigenvalues of pinv(Sigma) to 0 over all frequencies (google/svcca "
        "would produce NaN there); consider epsilon > 0",
        r.clamped_eigenvalues));
  if (pruned > 0)
    r.warnings.push_back(fmt::format("google compat: remove_small dropped channels at {} of {} frequencies (epsilon {:g})",
                                     pruned, rows * cols, opts.google_epsilon));
  if (r.empty_frequencies > 0)
    r.warnings.push_back(fmt::format(
        "google compat: no channel survived remove_small at {} of {} frequencies (e.g. all-zero Fourier "
        "coefficients); they count as 0, google's zero dict",
        r.empty_frequencies, rows * cols));
  return r;
}

SimilarityResult dft_cca_similarity(const torch::Tensor& x, const torch::Tensor& y, const SimilarityOptions& opts,
                                    SpatialLayout layout, const std::string& x_name, const std::string& y_name) {
  const DftCcaResult d = dft_cca(x, y, opts, layout, x_name, y_name);
  SimilarityResult r;
  r.measure = Measure::DftCca;
  r.compat = Compat::Google;
  r.value = d.value;
  r.n = d.n;
  r.p = d.channels_x;
  r.q = d.channels_y;
  r.warnings = d.warnings;
  std::vector<std::vector<double>> table(d.per_frequency.size(0), std::vector<double>(d.per_frequency.size(1)));
  auto acc = d.per_frequency.accessor<double, 2>();
  for (size_t i = 0; i < table.size(); ++i)
    for (size_t j = 0; j < table[i].size(); ++j) table[i][j] = acc[int64_t(i)][int64_t(j)];
  r.details["per_frequency"] = table;
  r.details["row_frequencies"] = d.row_frequencies;
  r.details["col_frequencies"] = d.col_frequencies;
  r.details["spatial_x"] = {d.height_x, d.width_x};
  r.details["spatial_y"] = {d.height_y, d.width_y};
  r.details["layout"] = layout_name(layout);
  r.details["epsilon"] = opts.google_epsilon;
  r.details["threshold"] = opts.google_threshold;
  r.details["empty_frequencies"] = d.empty_frequencies;
  return r;
}

}  // namespace closerlook
