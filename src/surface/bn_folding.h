// The eval-mode forward pass of a built-in network (VGG, ResNet, MLP) with every BatchNorm folded
// into the conv / linear layer before it, in channels-last layout: the evaluation engine of the
// surface tools (issue 19). After BN recalibration the running statistics are fixed, so the
// eval-mode pair conv -> BN is one affine map:
//   s = gamma / sqrt(running_var + eps);  W' = W * s (per output channel);  b' = (b - mean) * s + beta
// computed in float64 and cast to the weights' dtype. The plan holds that folded copy of the
// weights (refresh() recomputes it from the network's current parameters and buffers) and runs
// conv2d / linear / relu_ / max_pool2d on it under InferenceMode; activations stay channels-last
// (oneDNN's preferred layout on CPU), which with the folding is ~2x a plain eager eval loop on
// vgg11-w16 (BENCHMARKS.md).
//
// The plain path (Network::forward in eval mode) stays the reference: a network whose structure
// the plan does not know (TorchScript models, a user module) gets no plan (build() returns null)
// and callers fall back to it. Equal to the plain path up to float rounding (tests/surface/
// bn_folding_test.cpp: logits to ~1e-6 relative, losses to 1e-5, error counts equal but for ties).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "models/network.h"

namespace closerlook {

struct FoldOptions {
  bool fold_bn = true;        // false: BN applied as its own eval-mode op (for tests / comparison)
  bool channels_last = true;  // 4-D activations and conv weights in channels-last layout
};

class FoldedNetwork {
 public:
  // The plan of a built-in network, or nullptr when its structure is not one the plan knows.
  // The plan keeps references to `net`'s modules: `net` must outlive it.
  static std::unique_ptr<FoldedNetwork> build(Network& net, const FoldOptions& opts = {});

  // Recomputes the folded weights from the network's current parameters and BN buffers (call it
  // after loading weights or recalibrating BN; evaluation is wrong otherwise).
  void refresh();
  // Eval-mode logits (as Network::forward with train(false)); runs under InferenceMode.
  torch::Tensor forward(const torch::Tensor& x);
  // The input layout the plan prefers (convert once, e.g. the whole dataset, to save a copy per batch).
  torch::Tensor prepare_input(const torch::Tensor& x) const;
  // One line, e.g. "vgg: 8 conv (8 BN folded), 3 linear, channels-last".
  std::string describe() const;
  const FoldOptions& options() const { return opts_; }

  struct Affine;  // a conv or linear layer with its optional BN (public for the builder)
  struct Op;

  ~FoldedNetwork();
  FoldedNetwork(const FoldedNetwork&) = delete;
  FoldedNetwork& operator=(const FoldedNetwork&) = delete;

 private:
  FoldedNetwork();
  torch::Tensor run_ops(std::vector<Op>& ops, torch::Tensor x);

  FoldOptions opts_;
  std::string family_;
  std::vector<Op> ops_;
  bool fresh_ = false;
};

}  // namespace closerlook
