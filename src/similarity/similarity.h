// One entry point for every pairwise measure. Build Representations once and reuse them when a
// layer takes part in several comparisons (see similarity_map.h for whole maps).
#pragma once
#include <torch/torch.h>

#include <string>

#include "similarity/measure.h"
#include "similarity/representation.h"

namespace closerlook {

// The representation settings a measure needs under `opts` (centring, rank tolerance).
RepresentationOptions representation_options(const SimilarityOptions& opts);

// Error(BadInput) for invalid options, mismatched examples, NaN/inf input, and degenerate
// cases the measure cannot handle (the message names the input and what to do instead).
SimilarityResult similarity(const Representation& x, const Representation& y, Measure measure,
                            const SimilarityOptions& opts = {});

// Convenience for one-off pairs: x (n x p), y (n x q), data-major, any floating dtype. DftCca takes
// 4-D [N, C, H, W] tensors here (dft_cca.h); the Representation overload rejects it.
SimilarityResult similarity(const torch::Tensor& x, const torch::Tensor& y, Measure measure,
                            const SimilarityOptions& opts = {}, const std::string& x_name = "X",
                            const std::string& y_name = "Y");

}  // namespace closerlook
