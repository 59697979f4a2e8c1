#include "surface/bn_folding.h"

#include <fmt/format.h>

#include "core/error.h"
#include "models/mlp.h"
#include "models/module_network.h"
#include "models/resnet.h"
#include "models/vgg.h"

namespace closerlook {

namespace nn = torch::nn;

struct FoldedNetwork::Affine {
  bool conv = true;
  torch::Tensor weight, bias;  // the module's (aliases; bias may be undefined)
  bool has_bn = false;
  torch::Tensor gamma, beta, mean, var;  // the BN's (aliases; gamma/beta undefined without affine)
  double eps = 1e-5;
  std::vector<int64_t> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
  bool relu = false;
  torch::Tensor w, b;  // what forward uses: folded (or the module's, laid out)
};

struct FoldedNetwork::Op {
  enum Kind { kAffine, kRelu, kMaxPool, kFlatten, kBlock, kAvgPoolFlatten } kind = kAffine;
  Affine a, a2, sc;    // kAffine: a; kBlock: conv1 (a), conv2 (a2), shortcut (sc when has_sc)
  bool has_sc = false;
  std::vector<int64_t> k, s, p, d;  // max-pool kernel, stride, padding, dilation
  bool ceil = false;
};

FoldedNetwork::FoldedNetwork() = default;
FoldedNetwork::~FoldedNetwork() = default;

namespace {

using Affine = FoldedNetwork::Affine;
using Op = FoldedNetwork::Op;

std::vector<int64_t> arr(at::IntArrayRef r) { return r.vec(); }

// A Conv2d the plan can run (zero padding given as numbers), else nullopt.
std::optional<Affine> conv_of(const std::shared_ptr<nn::Module>& m) {
  auto c = std::dynamic_pointer_cast<nn::Conv2dImpl>(m);
  if (!c) return std::nullopt;
  const auto& o = c->options;
  if (!std::holds_alternative<torch::ExpandingArray<2>>(o.padding())) return std::nullopt;
  if (!std::holds_alternative<torch::enumtype::kZeros>(o.padding_mode())) return std::nullopt;
  if (o.transposed()) return std::nullopt;
  Affine a;
  a.conv = true;
  a.weight = c->weight;
  a.bias = c->bias;
  a.stride = arr(*o.stride());
  a.padding = arr(*std::get<torch::ExpandingArray<2>>(o.padding()));
  a.dilation = arr(*o.dilation());
  a.groups = o.groups();
  return a;
}

std::optional<Affine> linear_of(const std::shared_ptr<nn::Module>& m) {
  auto l = std::dynamic_pointer_cast<nn::LinearImpl>(m);
  if (!l) return std::nullopt;
  Affine a;
  a.conv = false;
  a.weight = l->weight;
  a.bias = l->bias;
  return a;
}

// Attaches a BatchNorm1d/2d to `a` (true), or false when `m` is not one the plan can fold.
bool attach_bn(Affine& a, const std::shared_ptr<nn::Module>& m) {
  auto set = [&](auto& bn) {
    if (!bn->options.track_running_stats()) return false;
    a.has_bn = true;
    a.mean = bn->running_mean;
    a.var = bn->running_var;
    if (bn->options.affine()) {
      a.gamma = bn->weight;
      a.beta = bn->bias;
    }
    a.eps = bn->options.eps();
    return true;
  };
  if (a.conv) {
    if (auto bn = std::dynamic_pointer_cast<nn::BatchNorm2dImpl>(m)) return set(bn);
  } else {
    if (auto bn = std::dynamic_pointer_cast<nn::BatchNorm1dImpl>(m)) return set(bn);
  }
  return false;
}

bool is_bn(const std::shared_ptr<nn::Module>& m) {
  return std::dynamic_pointer_cast<nn::BatchNorm2dImpl>(m) || std::dynamic_pointer_cast<nn::BatchNorm1dImpl>(m);
}

// A chain of Conv2d / Linear [BatchNorm] ReLU MaxPool2d Dropout modules (VGG features, FC heads).
bool append_chain(std::vector<Op>& ops, nn::Sequential& seq) {
  for (const auto& m : seq->children()) {
    if (auto a = conv_of(m)) {
      ops.push_back({});
      ops.back().a = *a;
    } else if (auto l = linear_of(m)) {
      ops.push_back({});
      ops.back().a = *l;
    } else if (is_bn(m)) {
      // Only directly after a conv / linear without a ReLU in between.
      if (ops.empty() || ops.back().kind != Op::kAffine || ops.back().a.has_bn || ops.back().a.relu) return false;
      if (!attach_bn(ops.back().a, m)) return false;
    } else if (std::dynamic_pointer_cast<nn::ReLUImpl>(m)) {
      if (!ops.empty() && ops.back().kind == Op::kAffine && !ops.back().a.relu) {
        ops.back().a.relu = true;
      } else {
        ops.push_back({});
        ops.back().kind = Op::kRelu;
      }
    } else if (auto mp = std::dynamic_pointer_cast<nn::MaxPool2dImpl>(m)) {
      Op op;
      op.kind = Op::kMaxPool;
      op.k = arr(*mp->options.kernel_size());
      op.s = arr(*mp->options.stride());
      op.p = arr(*mp->options.padding());
      op.d = arr(*mp->options.dilation());
      op.ceil = mp->options.ceil_mode();
      ops.push_back(op);
    } else if (std::dynamic_pointer_cast<nn::DropoutImpl>(m)) {
      // eval mode: identity
    } else {
      return false;
    }
  }
  return true;
}

bool append_resnet(std::vector<Op>& ops, nn::Module& net) {
  // ResNet::forward_probed: conv1 [bn1] relu, the blocks of layer1..., avg pool, flatten, linear.
  std::shared_ptr<nn::Module> linear;
  bool stem = false;
  for (const auto& kv : net.named_children()) {
    const std::string& name = kv.key();
    const auto& m = kv.value();
    if (name == "conv1") {
      auto a = conv_of(m);
      if (!a) return false;
      ops.push_back({});
      ops.back().a = *a;
      ops.back().a.relu = true;
      stem = true;
    } else if (name == "bn1") {
      if (!stem || !attach_bn(ops.back().a, m)) return false;
    } else if (name.rfind("layer", 0) == 0) {
      auto seq = std::dynamic_pointer_cast<nn::SequentialImpl>(m);
      if (!seq) return false;
      for (const auto& bm : seq->children()) {
        auto blk = std::dynamic_pointer_cast<BasicBlockImpl>(bm);
        if (!blk) return false;
        Op op;
        op.kind = Op::kBlock;
        auto c1 = conv_of(blk->conv1.ptr()), c2 = conv_of(blk->conv2.ptr());
        if (!c1 || !c2) return false;
        op.a = *c1;
        op.a.relu = true;
        if (blk->bn1 && !attach_bn(op.a, blk->bn1.ptr())) return false;
        op.a2 = *c2;
        if (blk->bn2 && !attach_bn(op.a2, blk->bn2.ptr())) return false;
        const auto sc = blk->shortcut->children();
        if (!sc.empty()) {
          auto c = conv_of(sc[0]);
          if (!c || sc.size() > 2) return false;
          op.sc = *c;
          if (sc.size() == 2 && !attach_bn(op.sc, sc[1])) return false;
          op.has_sc = true;
        }
        ops.push_back(op);
      }
    } else if (name == "linear") {
      linear = m;
    } else {
      return false;
    }
  }
  auto l = linear ? linear_of(linear) : std::nullopt;
  if (!stem || !l) return false;
  ops.push_back({});
  ops.back().kind = Op::kAvgPoolFlatten;
  ops.push_back({});
  ops.back().a = *l;
  return true;
}

void refresh_affine(Affine& a, const FoldOptions& o) {
  torch::NoGradGuard ng;
  if (a.has_bn && o.fold_bn) {
    const auto f64 = torch::kFloat64;
    torch::Tensor s = (a.var.to(f64) + a.eps).rsqrt();
    if (a.gamma.defined()) s = s * a.gamma.to(f64);
    torch::Tensor b = a.bias.defined() ? a.bias.to(f64) : torch::zeros_like(s);
    b = (b - a.mean.to(f64)) * s;
    if (a.beta.defined()) b = b + a.beta.to(f64);
    std::vector<int64_t> shape(static_cast<size_t>(a.weight.dim()), 1);
    shape[0] = -1;
    a.w = (a.weight.to(f64) * s.view(shape)).to(a.weight.scalar_type());
    a.b = b.to(a.weight.scalar_type());
  } else {
    a.w = a.weight.detach();
    a.b = a.bias.defined() ? a.bias.detach() : torch::Tensor();
  }
  if (a.conv && o.channels_last) a.w = a.w.contiguous(at::MemoryFormat::ChannelsLast);
}

torch::Tensor apply(const Affine& a, const torch::Tensor& x, bool folded) {
  torch::Tensor y = a.conv ? at::conv2d(x, a.w, a.b, a.stride, a.padding, a.dilation, a.groups) : at::linear(x, a.w, a.b);
  if (a.has_bn && !folded)
    y = at::batch_norm(y, a.gamma, a.beta, a.mean, a.var, /*training=*/false, 0.0, a.eps, /*cudnn_enabled=*/true);
  if (a.relu) y.relu_();
  return y;
}

}  // namespace

std::unique_ptr<FoldedNetwork> FoldedNetwork::build(Network& net, const FoldOptions& opts) {
  auto* mn = dynamic_cast<ModuleNetwork*>(&net);
  if (!mn) return nullptr;
  std::unique_ptr<FoldedNetwork> f(new FoldedNetwork());
  f->opts_ = opts;
  nn::Module& m = mn->module();
  bool ok = false;
  if (auto* vgg = dynamic_cast<VggNet*>(&m)) {
    f->family_ = "vgg";
    ok = append_chain(f->ops_, vgg->features);
    f->ops_.push_back({});
    f->ops_.back().kind = Op::kFlatten;
    ok = ok && append_chain(f->ops_, vgg->classifier);
  } else if (auto* mlp = dynamic_cast<Mlp*>(&m)) {
    f->family_ = "mlp";
    f->ops_.push_back({});
    f->ops_.back().kind = Op::kFlatten;
    ok = append_chain(f->ops_, mlp->classifier);
  } else if (dynamic_cast<ResNet*>(&m)) {
    f->family_ = "resnet";
    ok = append_resnet(f->ops_, m);
  }
  if (!ok) return nullptr;
  f->refresh();
  return f;
}

void FoldedNetwork::refresh() {
  for (auto& op : ops_) {
    if (op.kind == Op::kAffine || op.kind == Op::kBlock) refresh_affine(op.a, opts_);
    if (op.kind == Op::kBlock) {
      refresh_affine(op.a2, opts_);
      if (op.has_sc) refresh_affine(op.sc, opts_);
    }
  }
  fresh_ = true;
}

torch::Tensor FoldedNetwork::prepare_input(const torch::Tensor& x) const {
  if (opts_.channels_last && x.dim() == 4 && family_ != "mlp") return x.contiguous(at::MemoryFormat::ChannelsLast);
  return x;
}

torch::Tensor FoldedNetwork::run_ops(std::vector<Op>& ops, torch::Tensor x) {
  const bool folded = opts_.fold_bn;
  for (const auto& op : ops) {
    switch (op.kind) {
      case Op::kAffine:
        x = apply(op.a, x, folded);
        break;
      case Op::kRelu:
        x = x.relu();
        break;
      case Op::kMaxPool:
        x = at::max_pool2d(x, op.k, op.s, op.p, op.d, op.ceil);
        break;
      case Op::kFlatten:
        x = x.flatten(1);
        break;
      case Op::kAvgPoolFlatten:
        x = at::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
        break;
      case Op::kBlock: {
        torch::Tensor out = apply(op.a2, apply(op.a, x, folded), folded);
        out.add_(op.has_sc ? apply(op.sc, x, folded) : x);
        x = out.relu_();
        break;
      }
    }
  }
  return x;
}

torch::Tensor FoldedNetwork::forward(const torch::Tensor& x) {
  CL_CHECK_INPUT(fresh_, "folded network: refresh() was not called");
  c10::InferenceMode guard;
  return run_ops(ops_, prepare_input(x));
}

std::string FoldedNetwork::describe() const {
  int conv = 0, lin = 0, bn = 0;
  auto count = [&](const Affine& a) {
    (a.conv ? conv : lin) += 1;
    bn += a.has_bn ? 1 : 0;
  };
  for (const auto& op : ops_) {
    if (op.kind == Op::kAffine || op.kind == Op::kBlock) count(op.a);
    if (op.kind == Op::kBlock) {
      count(op.a2);
      if (op.has_sc) count(op.sc);
    }
  }
  return fmt::format("{}: {} conv, {} linear, {} BN {}, {}", family_, conv, lin, bn,
                     opts_.fold_bn ? "folded" : "unfolded", opts_.channels_last ? "channels-last" : "default layout");
}

}  // namespace closerlook
