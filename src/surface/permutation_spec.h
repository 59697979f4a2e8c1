// Permutation groups of a network's hidden units, derived from its structure: one forward pass
// in grad mode (eval mode, on a small input) and a walk of the autograd graph from the logits.
// Every tensor carries a "channel space" (union-find); convolutions and linear layers start a
// new space (their weight's axis 0, bias) and consume their input's (weight axis 1); BatchNorm
// keeps its input's space and ties its weight, bias and running statistics to it; a residual add
// unites its inputs' spaces; ReLU, pools, dropout, clone pass through; a flatten from [N,C,H,W]
// to [N,C*H*W] keeps the space with a block of H*W consecutive features per unit. The input and
// the logits spaces are fixed. Any other autograd node that touches a permutable space is an
// Error(BadInput) naming the node and the nearest parameter. Works for every built-in family
// (MLP, VGG with and without BN, ResNet with identity and projection shortcuts) and for
// TorchScript models built from the same operations; no per-model spec is written anywhere.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/network.h"

namespace closerlook {

// One axis of a parameter (or BN buffer) permuted by a group. block > 1: the axis has size
// group size * block and unit c owns the consecutive indices [c*block, (c+1)*block).
struct PermAxis {
  std::string tensor;  // parameter or buffer name (named_parameters / named_buffers)
  int64_t axis = 0;
  int64_t block = 1;
  bool buffer = false;
};

struct PermGroup {
  int64_t size = 0;
  std::vector<PermAxis> axes;  // in forward order
  std::string label;           // the first parameter axis of the group, e.g. "features.0.weight[0]"
};

struct PermutationSpec {
  std::string arch;
  std::vector<PermGroup> groups;  // in the order the forward pass creates them
};

// Derives the groups of `net` (arch() of the result = net.arch()). input_shape {C, H, W}; empty:
// parsed from the "in=CxHxW" part of arch(). The network's train/eval mode is restored.
// Checks the inventory: axes 0 and 1 of every parameter of 2+ dimensions reached by the graph
// are in exactly one group or in a fixed (input/logits) space.
PermutationSpec derive_permutation_spec(Network& net, std::vector<int64_t> input_shape = {});

// `align --show-groups`: one line per group (id, size, the axes).
std::string format_groups(const PermutationSpec& spec);
nlohmann::json spec_to_json(const PermutationSpec& spec);

// The graph walk itself, on a given batch x: the spec plus, per group, the ReLU outputs whose
// channels are that group's units (block 1), as tensors [N, C, ...] (activation matching).
// The network must be in the mode the caller wants (eval for alignment).
struct GraphTrace {
  PermutationSpec spec;
  torch::Tensor logits;
  std::vector<std::vector<torch::Tensor>> activations;  // [group][site]
};
GraphTrace trace_permutation_graph(Network& net, const torch::Tensor& x, bool keep_activations);

// {C, H, W} from arch()'s "in=CxHxW"; Error(BadInput) when it has none.
std::vector<int64_t> input_shape_of(const Network& net);

}  // namespace closerlook
