#include "surface/permutation_spec.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/csrc/autograd/generated/Functions.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"

namespace closerlook {

namespace {

using torch::autograd::Node;

std::string base_name(const std::string& full) {
  std::string s = full;
  const auto colon = s.rfind("::");
  if (colon != std::string::npos) s = s.substr(colon + 2);
  while (!s.empty() && std::isdigit(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

std::vector<int64_t> out_shape(Node* n, uint32_t nr = 0) {
  std::vector<int64_t> s;
  if (nr >= n->num_inputs()) return s;
  for (const auto& d : n->input_metadata(nr).shape_as_dim_vector()) s.push_back(d.expect_int());
  return s;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? "," : "") + std::to_string(s[i]);
  return o + "]";
}

// A tensor's channel space: space id (-1 = not a function of the parameters: the data, a
// constant; -2 = a parameter or a transform of one), block, the nearest parameter upstream.
struct Desc {
  int space = -1;
  int64_t block = 1;
  std::string near;
  std::string param;  // space -2: the parameter's name
  bool transposed = false;
};

struct Walker {
  Network& net;
  std::vector<int> parent;
  std::vector<int64_t> size;
  std::vector<char> fixed;
  struct Rec {
    PermAxis axis;
    int space;
  };
  std::vector<Rec> recs;
  std::map<std::pair<std::string, int64_t>, int> recorded;  // (tensor, axis) -> space
  std::unordered_map<const c10::TensorImpl*, std::string> param_names;
  std::set<std::string> buffer_names;
  std::map<std::string, std::vector<int64_t>> param_shapes;
  std::unordered_map<Node*, Desc> desc;
  std::vector<std::pair<Node*, int>> relu_sites;  // ReLU node, its space
  std::vector<c10::intrusive_ptr<Node>> keep;

  explicit Walker(Network& n) : net(n) {
    for (auto& [name, t] : net.named_parameters()) {
      param_names[t.unsafeGetTensorImpl()] = name;
      param_shapes[name] = t.sizes().vec();
    }
    for (auto& [name, t] : net.named_buffers()) buffer_names.insert(name);
  }

  int make(int64_t n, bool is_fixed = false) {
    parent.push_back(static_cast<int>(parent.size()));
    size.push_back(n);
    fixed.push_back(is_fixed);
    return parent.back();
  }
  int find(int s) {
    while (parent[s] != s) s = parent[s] = parent[parent[s]];
    return s;
  }
  void unite(int a, int b, const std::string& where) {
    a = find(a);
    b = find(b);
    if (a == b) return;
    CL_CHECK_INPUT(size[a] == size[b], "align: " + where + " ties channel spaces of sizes " + std::to_string(size[a]) +
                                           " and " + std::to_string(size[b]));
    parent[b] = a;
    fixed[a] = fixed[a] || fixed[b];
  }

  [[noreturn]] void unsupported(Node* n, const std::string& near, const std::string& why) {
    throw_bad_input("align: cannot derive the permutation groups of '" + net.arch() + "': autograd node '" + n->name() +
                    "'" + (near.empty() ? std::string() : " (after parameter '" + near + "')") + " " + why +
                    "; supported: convolution, linear, batch norm, residual add, ReLU-like activations, pooling, "
                    "dropout, flatten");
  }

  void record(const std::string& tensor, int64_t axis, int space, int64_t block, bool buffer) {
    const auto key = std::make_pair(tensor, axis);
    auto it = recorded.find(key);
    if (it != recorded.end()) {  // a shared (tied) parameter: its uses share the space
      unite(it->second, space, "the shared tensor '" + tensor + "'");
      return;
    }
    recorded[key] = space;
    recs.push_back({PermAxis{tensor, axis, block, buffer}, space});
  }

  Desc input(Node* n, size_t i) {
    const auto& e = n->next_edges();
    if (i >= e.size() || !e[i].is_valid()) return Desc{};
    auto it = desc.find(e[i].function.get());
    if (it == desc.end()) return Desc{};
    CL_CHECK_INPUT(e[i].input_nr == 0 || it->second.space < 0,
                   "align: autograd node '" + n->name() + "' reads output " + std::to_string(e[i].input_nr) +
                       " of a multi-output node '" + e[i].function->name() + "'");
    return it->second;
  }
  std::vector<int64_t> input_shape(Node* n, size_t i) {
    const auto& e = n->next_edges();
    if (i >= e.size() || !e[i].is_valid()) return {};
    return out_shape(e[i].function.get(), e[i].input_nr);
  }
  // The parameter on edge i (directly, or through one transpose when `transposed`).
  std::string param_on(Node* n, size_t i, bool transposed, const std::string& near) {
    const Desc d = input(n, i);
    if (d.space != -2 || d.transposed != transposed)
      unsupported(n, near, "takes a computed tensor where a parameter was expected (input " + std::to_string(i) + ")");
    return d.param;
  }
  bool has_edge(Node* n, size_t i) {
    const auto& e = n->next_edges();
    return i < e.size() && e[i].is_valid();
  }
  bool permutable(const Desc& d) { return d.space >= 0 && !fixed[find(d.space)]; }

  // The space of an activation input: a fresh fixed space for the data / a constant.
  int space_of(Desc& d, int64_t channels) {
    if (d.space == -1) d.space = make(channels, /*fixed=*/true);
    return d.space;
  }

  void visit(Node* n) {
    const std::string b = base_name(n->name());
    const size_t ne = n->next_edges().size();
    Desc out;
    // nearest parameter upstream
    for (size_t i = 0; i < ne; ++i) {
      Desc d = input(n, i);
      if (!d.near.empty()) out.near = d.near;
    }
    const std::string near = out.near;
    if (b == "AccumulateGrad") {
      auto* acc = dynamic_cast<torch::autograd::AccumulateGrad*>(n);
      auto it = acc ? param_names.find(acc->variable.unsafeGetTensorImpl()) : param_names.end();
      if (it == param_names.end()) {
        out.space = -1;  // a leaf that is not a parameter of the network (e.g. an input requiring grad)
      } else {
        out.space = -2;
        out.param = it->second;
        out.near = it->second;
      }
    } else if (b == "TBackward" || b == "PermuteBackward" || b == "TransposeBackward") {
      Desc d = input(n, 0);
      if (d.space != -2 || d.transposed) {
        if (permutable(d)) unsupported(n, near, "transposes activations");
        out = Desc{-1, 1, near};
      } else {
        out = d;
        out.transposed = true;
      }
    } else if (b == "ConvolutionBackward") {
      const std::string w = param_on(n, 1, false, near);
      const auto& ws = param_shapes[w];
      Desc x = input(n, 0);
      const auto os = out_shape(n);
      if (os.size() < 2 || os[1] != ws[0]) unsupported(n, w, "is a transposed convolution");
      if (x.space >= 0 || x.space == -1) {
        const auto xs = input_shape(n, 0);
        if (x.space >= 0 && (size[find(x.space)] != ws[1] || x.block != 1))
          unsupported(n, w, "is a grouped convolution (weight " + shape_str(ws) + ")");
        record(w, 1, space_of(x, ws[1]), 1, false);
      } else {
        unsupported(n, w, "convolves a parameter");
      }
      out.space = make(ws[0]);
      record(w, 0, out.space, 1, false);
      if (has_edge(n, 2)) record(param_on(n, 2, false, w), 0, out.space, 1, false);
      out.near = w;
    } else if (b == "AddmmBackward" || b == "MmBackward" || b == "LinearBackward") {
      const bool addmm = b == "AddmmBackward", lin = b == "LinearBackward";
      const size_t xi = addmm ? 1 : 0, wi = addmm ? 2 : 1;
      const std::string w = param_on(n, wi, /*transposed=*/!lin, near);
      const auto& ws = param_shapes[w];
      CL_CHECK_INPUT(ws.size() == 2, "align: linear weight '" + w + "' is not 2-D");
      Desc x = input(n, xi);
      const auto xs = input_shape(n, xi);
      if (x.space == -2) unsupported(n, w, "multiplies two parameters");
      if (x.space >= 0 && xs.size() != 2) unsupported(n, w, "takes a " + std::to_string(xs.size()) + "-D input");
      if (x.space >= 0 && size[find(x.space)] * x.block != ws[1])
        unsupported(n, w, "reads " + std::to_string(ws[1]) + " features from a space of " +
                              std::to_string(size[find(x.space)]) + " x " + std::to_string(x.block));
      const int64_t blk = x.space >= 0 ? x.block : 1;
      record(w, 1, space_of(x, ws[1]), blk, false);
      out.space = make(ws[0]);
      record(w, 0, out.space, 1, false);
      const size_t bi = addmm ? 0 : 2;
      if ((addmm || lin) && has_edge(n, bi)) {
        const std::string bias = param_on(n, bi, false, w);
        CL_CHECK_INPUT(param_shapes[bias].size() == 1, "align: bias '" + bias + "' of '" + w + "' is not 1-D");
        record(bias, 0, out.space, 1, false);
      }
      out.near = w;
    } else if (b.find("BatchNorm") != std::string::npos && b.find("Backward") != std::string::npos) {
      Desc x = input(n, 0);
      if (!has_edge(n, 1) || !has_edge(n, 2))
        unsupported(n, near, "is a batch norm without affine parameters (its running statistics cannot be located)");
      const std::string w = param_on(n, 1, false, near), bias = param_on(n, 2, false, near);
      if (x.space < 0) unsupported(n, w, "normalises a tensor that is not an activation");
      record(w, 0, x.space, x.block, false);
      record(bias, 0, x.space, x.block, false);
      const std::string prefix = w.size() > 7 && w.substr(w.size() - 7) == ".weight" ? w.substr(0, w.size() - 6) : "";
      for (const char* s : {"running_mean", "running_var"}) {
        const std::string name = prefix + s;
        if (!prefix.empty() && buffer_names.count(name)) record(name, 0, x.space, x.block, true);
        else if (net.is_training() == false && false) {}
      }
      out = x;
      out.near = w;
    } else if (b == "AddBackward" || b == "SubBackward") {
      Desc x = input(n, 0), y = input(n, 1);
      if (ne < 2 || !has_edge(n, 1)) {
        out = x;  // x + scalar, or x + a constant
        if (ne >= 2 && permutable(x) && out_shape(n) != input_shape(n, 0)) unsupported(n, near, "broadcasts a constant");
      } else if (!has_edge(n, 0)) {
        out = y;
      } else {
        if (x.space == -2 || y.space == -2) unsupported(n, near, "adds a parameter to an activation");
        if (x.space >= 0 && y.space >= 0) {
          if (x.block != y.block || input_shape(n, 0) != input_shape(n, 1))
            unsupported(n, near, "adds tensors of shapes " + shape_str(input_shape(n, 0)) + " and " +
                                     shape_str(input_shape(n, 1)));
          unite(x.space, y.space, "the residual add '" + n->name() + "' after '" + near + "'");
          out = x;
        } else {
          out = x.space >= 0 ? x : y;
          if (permutable(out)) unsupported(n, near, "adds a tensor that does not depend on the parameters");
        }
      }
      out.near = near;
    } else if (b == "ViewBackward" || b == "ReshapeAliasBackward" || b == "UnsafeViewBackward" ||
               b == "SqueezeBackward" || b == "UnsqueezeBackward" || b == "FlattenBackward" || b == "AsStridedBackward") {
      Desc x = input(n, 0);
      const auto is = input_shape(n, 0), os = out_shape(n);
      auto prod = [](const std::vector<int64_t>& s, size_t from) {
        int64_t p = 1;
        for (size_t i = from; i < s.size(); ++i) p *= s[i];
        return p;
      };
      out = x;
      if (x.space >= 0 && is != os) {
        if (is.size() >= 2 && os.size() >= 2 && is[0] == os[0] && is[1] == os[1] && prod(is, 2) == 1 && prod(os, 2) == 1) {
          // [N,C,1,1] <-> [N,C]
        } else if (os.size() == 2 && is.size() >= 2 && os[0] == is[0] && os[1] == prod(is, 1)) {
          out.block = x.block * prod(is, 2);
        } else {
          unsupported(n, near, "reshapes " + shape_str(is) + " to " + shape_str(os));
        }
      } else if (x.space == -2) {
        unsupported(n, near, "reshapes a parameter");
      }
    } else {
      // Pass-through ops: elementwise activations, pools, dropout, copies, scalar arithmetic.
      static const std::set<std::string> pass = {
          "ReluBackward", "LeakyReluBackward", "EluBackward", "GeluBackward", "SiluBackward", "SigmoidBackward",
          "TanhBackward", "HardtanhBackward", "Relu6Backward", "MaxPool2DWithIndicesBackward", "MaxPool1DWithIndicesBackward",
          "MaxPool2DBackward", "AvgPool2DBackward", "AvgPool1DBackward", "AdaptiveAvgPool2DBackward",
          "AdaptiveMaxPool2DBackward", "AdaptiveAvgPool1DBackward", "MeanBackward", "DropoutBackward",
          "NativeDropoutBackward", "CloneBackward", "MulBackward", "DivBackward", "ToCopyBackward", "AliasBackward",
          "ThresholdBackward", "FeatureDropoutBackward", "NegBackward"};
      std::vector<Desc> ins;
      bool any_perm = false, any_param = false;
      for (size_t i = 0; i < ne; ++i) {
        if (!has_edge(n, i)) continue;
        ins.push_back(input(n, i));
        any_perm = any_perm || ins.back().space >= 0;
        any_param = any_param || ins.back().space == -2;
      }
      const bool scalar_arith = (b == "MulBackward" || b == "DivBackward") && n->name().back() == '1';
      const bool ok_kind = pass.count(b) && (b != "MulBackward" && b != "DivBackward" || scalar_arith);
      if (!any_perm && !any_param) {
        out = Desc{-1, 1, near};
      } else if (ok_kind && ins.size() == 1 && ins[0].space >= 0) {
        const auto is = input_shape(n, 0), os = out_shape(n);
        if (is.size() < 2 || os.size() < 2 || is[0] != os[0] || is[1] != os[1])
          unsupported(n, near, "changes the channel axis (" + shape_str(is) + " -> " + shape_str(os) + ")");
        out = ins[0];
        out.near = near;
        if (b == "ReluBackward" && out.block == 1 && os.size() >= 2) relu_sites.push_back({n, out.space});
      } else {
        bool perm = false;
        for (auto& d : ins) perm = perm || permutable(d) || d.space == -2;
        if (!perm) {
          out = Desc{-1, 1, near};
        } else {
          unsupported(n, near, "acts on permutable channels");
        }
      }
    }
    desc[n] = out;
  }
};

// Nodes in forward (topological) order: post-order of the backward graph from the root.
std::vector<Node*> forward_order(Node* root) {
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack;
  stack.push_back({root, 0});
  seen.insert(root);
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    const auto& e = n->next_edges();
    if (i < e.size()) {
      Node* c = e[i++].function.get();
      if (c && seen.insert(c).second) stack.push_back({c, 0});
    } else {
      order.push_back(n);
      stack.pop_back();
    }
  }
  return order;
}

}  // namespace

std::vector<int64_t> input_shape_of(const Network& net) {
  static const std::regex re("in=(\\d+)x(\\d+)x(\\d+)");
  std::smatch m;
  const std::string a = net.arch();
  CL_CHECK_INPUT(std::regex_search(a, m, re), "align: no input shape (in=CxHxW) in the architecture '" + a + "'");
  return {std::stoll(m[1]), std::stoll(m[2]), std::stoll(m[3])};
}

GraphTrace trace_permutation_graph(Network& net, const torch::Tensor& x, bool keep_activations) {
  torch::AutoGradMode grad(true);
  torch::jit::GraphOptimizerEnabledGuard no_autodiff(false);  // TorchScript: plain autograd nodes
  std::vector<std::pair<torch::Tensor, bool>> req;
  for (auto& p : net.parameters()) {
    req.push_back({p, p.requires_grad()});
    if (!p.requires_grad()) p.requires_grad_(true);
  }
  GraphTrace tr;
  tr.spec.arch = net.arch();
  Walker w(net);
  try {
    tr.logits = net.forward(x);
  } catch (...) {
    for (auto& [p, r] : req) p.requires_grad_(r);
    throw;
  }
  for (auto& [p, r] : req) p.requires_grad_(r);
  auto root = tr.logits.grad_fn();
  CL_CHECK_INPUT(root != nullptr, "align: the logits of '" + net.arch() + "' do not depend on its parameters");
  for (Node* n : forward_order(root.get())) w.visit(n);
  const Desc& ld = w.desc[root.get()];
  if (ld.space >= 0) w.fixed[w.find(ld.space)] = 1;
  CL_CHECK_INPUT(ld.space >= 0 && ld.block == 1, "align: the logits of '" + net.arch() + "' come from no linear layer");

  // Groups: the permutable classes, in order of first appearance.
  std::map<int, int> group_of_root;
  for (const auto& r : w.recs) {
    const int root_s = w.find(r.space);
    if (w.fixed[root_s]) continue;
    auto it = group_of_root.find(root_s);
    if (it == group_of_root.end()) {
      it = group_of_root.emplace(root_s, static_cast<int>(tr.spec.groups.size())).first;
      PermGroup g;
      g.size = w.size[root_s];
      g.label = r.axis.tensor + "[" + std::to_string(r.axis.axis) + "]";
      tr.spec.groups.push_back(g);
    }
    tr.spec.groups[it->second].axes.push_back(r.axis);
  }
  // Inventory: axes 0 and 1 of every 2+-D parameter reached are recorded exactly once.
  std::set<std::string> reached;
  for (const auto& r : w.recs) reached.insert(r.axis.tensor);
  for (const auto& [name, shape] : w.param_shapes) {
    if (shape.size() < 2 || !reached.count(name)) continue;
    for (int64_t a : {0, 1})
      CL_CHECK_INPUT(w.recorded.count({name, a}), "align: parameter '" + name + "' axis " + std::to_string(a) +
                                                      " is in no permutation group (an unsupported use of it)");
  }
  tr.activations.resize(tr.spec.groups.size());
  if (keep_activations) {
    for (auto& [node, space] : w.relu_sites) {
      auto it = group_of_root.find(w.find(space));
      if (it == group_of_root.end()) continue;
      auto* relu = dynamic_cast<torch::autograd::generated::ReluBackward0*>(node);
      if (!relu) continue;
      torch::Tensor a;
      try {
        a = relu->result_.unpack(c10::intrusive_ptr<Node>::unsafe_reclaim_from_nonowning(node));
      } catch (const std::exception& e) {
        throw_bad_input("align: cannot read a ReLU output of '" + net.arch() + "': " + std::string(e.what()).substr(0, 200));
      }
      tr.activations[it->second].push_back(a.detach());
    }
  }
  return tr;
}

PermutationSpec derive_permutation_spec(Network& net, std::vector<int64_t> input_shape) {
  if (input_shape.empty()) input_shape = input_shape_of(net);
  CL_CHECK_INPUT(input_shape.size() == 3, "align: input shape must be {C, H, W}");
  const bool was_training = net.is_training();
  net.train(false);
  torch::Device dev = torch::kCPU;
  auto ps = net.parameters();
  if (!ps.empty()) dev = ps.front().device();
  torch::Tensor x = torch::zeros({2, input_shape[0], input_shape[1], input_shape[2]}, torch::TensorOptions().device(dev));
  GraphTrace tr;
  try {
    tr = trace_permutation_graph(net, x, false);
  } catch (...) {
    net.train(was_training);
    throw;
  }
  net.train(was_training);
  return tr.spec;
}

std::string format_groups(const PermutationSpec& spec) {
  std::ostringstream o;
  o << spec.groups.size() << " permutation groups of " << spec.arch << "\n";
  for (size_t g = 0; g < spec.groups.size(); ++g) {
    o << "group " << g << "  size " << spec.groups[g].size << ":";
    for (const auto& a : spec.groups[g].axes) {
      o << " " << a.tensor << "[" << a.axis;
      if (a.block > 1) o << " x" << a.block;
      o << "]";
    }
    o << "\n";
  }
  return o.str();
}

nlohmann::json spec_to_json(const PermutationSpec& spec) {
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : spec.groups) {
    nlohmann::json axes = nlohmann::json::array();
    for (const auto& a : g.axes)
      axes.push_back({{"tensor", a.tensor}, {"axis", a.axis}, {"block", a.block}, {"buffer", a.buffer}});
    groups.push_back({{"size", g.size}, {"label", g.label}, {"axes", axes}});
  }
  return {{"arch", spec.arch}, {"groups", groups}};
}

}  // namespace closerlook
