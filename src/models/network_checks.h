// The checks (and their messages) that every Network implementation makes the same way: the
// shape of an input batch, and a checkpoint tensor against the network's own. Used by
// ModuleNetwork and JitNetwork.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace closerlook {

// "[2, 1, 12, 12]".
std::string shape_str(at::IntArrayRef s);
// "a, b, c".
std::string join_names(const std::vector<std::string>& v);

// Error(BadInput) naming the network `arch` unless x is N x C x H x W for input_shape {C, H, W}
// (or, with accepts_flat, N x C*H*W).
void check_input_batch(const std::string& arch, const torch::Tensor& x, const std::vector<int64_t>& input_shape,
                       bool accepts_flat);

// Error(BadInput) "<path>: <kind> '<name>' has shape|dtype ..., the network expects ...<suffix>"
// unless the checkpoint's tensor src has dst's shape and dtype.
void check_same_layout(const std::string& path, const std::string& kind, const std::string& name,
                       const torch::Tensor& src, const torch::Tensor& dst, const std::string& suffix = "");

}  // namespace closerlook
