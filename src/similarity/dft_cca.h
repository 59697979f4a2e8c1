// DFT-CCA: the conv-layer measure of google/svcca's dft_ccas.fourier_ccas (Raghu et al. 2017),
// replayed on LibTorch's [N, C, H, W] layout (or google's [N, H, W, C] with Layout::Nhwc).
//
//  1. 2-D DFT of every channel of every example over the spatial axes (H, W).
//  2. When the two layers' spatial sizes differ, each keeps the overlapping low frequencies:
//     along an axis of size `s` compared with a smaller `m`, the frequencies f (numpy fftfreq
//     order, f = 0, 1, ..., -1) with -m/2 <= f < m/2 -- google's fft_resize. Both keep the same
//     frequencies in the same order.
//  3. At every kept frequency (i, j), google's get_cca_similarity (google_cca.h; complex data,
//     epsilon and threshold from SimilarityOptions, google's defaults 0 and 0.98) between the
//     N x C1 and N x C2 complex matrices (channels are the neurons, examples the datapoints).
//  4. value = mean over the frequencies of google's per-frequency "mean" (sum_threshold prefix).
//
// Differences from google (docs/similarity.md): the DFT is computed in float64 (google casts to
// complex64 first; on the oracle fixtures the per-frequency values match google's to 1e-9);
// fft_resize works per axis, so non-square maps are accepted (google asserts square maps when it
// resizes; identical otherwise);
// a frequency where no channel survives remove_small (e.g. all-zero coefficients) counts as 0,
// google's zero dict, and is warned.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "similarity/measure.h"

namespace closerlook {

enum class SpatialLayout { Nchw, Nhwc };
std::string layout_name(SpatialLayout l);            // "nchw" | "nhwc"
SpatialLayout parse_layout(const std::string& name);  // Error(BadInput) otherwise

struct DftCcaResult {
  double value = 0.0;                   // mean of per_frequency
  torch::Tensor per_frequency;          // rows x cols float64 (CPU): google "mean" at frequency (i, j)
  std::vector<int64_t> row_frequencies; // the kept frequencies along H (fftfreq * size, in order)
  std::vector<int64_t> col_frequencies; // ... along W
  int64_t n = 0, channels_x = 0, channels_y = 0;
  int64_t height_x = 0, width_x = 0, height_y = 0, width_y = 0;  // input spatial sizes
  int64_t empty_frequencies = 0;        // frequencies where google's zero dict was returned
  int64_t clamped_eigenvalues = 0;      // summed over frequencies (see google_cca.h)
  std::vector<std::string> warnings;
};

// x: [N, C1, H1, W1], y: [N, C2, H2, W2] in `layout` (Nhwc: [N, H, W, C]), any floating dtype,
// any device (computed on the CPU in float64/complex128). Error(BadInput) naming the input for a
// wrong rank, different N, NaN/inf, an empty axis, or C >= N for x (google's assert).
DftCcaResult dft_cca(const torch::Tensor& x, const torch::Tensor& y, const SimilarityOptions& opts = {},
                     SpatialLayout layout = SpatialLayout::Nchw, const std::string& x_name = "X",
                     const std::string& y_name = "Y");

// The same as a SimilarityResult (measure DftCca, compat Google): value = overall mean, p/q the
// channel counts, details: per_frequency (nested rows x cols), row/col frequencies, spatial sizes,
// layout, epsilon, threshold.
SimilarityResult dft_cca_similarity(const torch::Tensor& x, const torch::Tensor& y, const SimilarityOptions& opts = {},
                                    SpatialLayout layout = SpatialLayout::Nchw, const std::string& x_name = "X",
                                    const std::string& y_name = "Y");

}  // namespace closerlook
