#include "models/jit_network.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/script.h>

#include <algorithm>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/archive_io.h"
#include "core/error.h"
#include "core/json_io.h"
#include "models/network_checks.h"

namespace closerlook {

namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// TorchScript errors carry a multi-line script traceback; the first line says where, the last
// what went wrong.
std::string brief(const std::exception& e) {
  const auto* ce = dynamic_cast<const c10::Error*>(&e);
  std::string msg = ce ? ce->what_without_backtrace() : e.what();
  std::vector<std::string> lines;
  std::stringstream ss(msg);
  for (std::string l; std::getline(ss, l);)
    if (l.find_first_not_of(" \t") != std::string::npos) lines.push_back(l);
  if (lines.empty()) return "(no message)";
  if (lines.size() == 1) return lines.front();
  return lines.front() + " ... " + lines.back();
}

// "__torch__.mymodel.___torch_mangle_3.SmallCNN" -> "mymodel.SmallCNN": the same class scripted
// in another process (or twice in one) must give the same name.
std::string clean_class_name(const torch::jit::Module& m) {
  std::string q = m.type()->name() ? m.type()->name()->qualifiedName() : "Module";
  q = std::regex_replace(q, std::regex("___torch_mangle_[0-9]+\\."), "");
  const std::string prefix = "__torch__.";
  if (q.rfind(prefix, 0) == 0) q = q.substr(prefix.size());
  return q;
}

// The dotted attribute path from `base` (a module value) to `v`, when `v` is a chain of
// prim::GetAttr on `base`; nullopt otherwise.
std::optional<std::string> attr_path(Value* v, Value* base) {
  std::vector<std::string> parts;
  while (v != base) {
    Node* n = v->node();
    if (n->kind() != c10::prim::GetAttr) return std::nullopt;
    parts.push_back(n->s(c10::attr::name));
    v = n->input();
  }
  if (parts.empty()) return std::nullopt;
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += (out.empty() ? "" : ".") + *it;
  return out;
}

bool is_forward_call(Node* n) { return n->kind() == c10::prim::CallMethod && n->s(c10::attr::name) == "forward"; }

torch::jit::GraphFunction* forward_of(Value* module_value) {
  auto cls = module_value->type()->cast<c10::ClassType>();
  if (!cls) return nullptr;
  auto* fn = cls->findMethod("forward");
  return fn ? torch::jit::tryToGraphFunction(*fn) : nullptr;
}

// Pre-order walk of the forward graphs: every submodule whose forward its parent calls exactly
// once, outside control flow, and that returns one Tensor, is a probe point.
void discover_probes(const std::shared_ptr<Graph>& g, const std::string& prefix, std::vector<std::string>& out) {
  Value* self = g->inputs()[0];
  std::map<std::string, int> calls;
  std::vector<std::pair<std::string, Node*>> order;
  for (Node* n : g->block()->nodes()) {
    if (!is_forward_call(n)) continue;
    auto path = attr_path(n->input(0), self);
    if (!path) continue;
    if (calls[*path]++ == 0) order.emplace_back(*path, n);
  }
  for (const auto& [path, n] : order) {
    if (calls[path] != 1) continue;
    const std::string full = prefix + path;
    if (n->outputs().size() == 1 && n->output()->type()->isSubtypeOf(*c10::TensorType::get())) out.push_back(full);
    if (auto* fn = forward_of(n->input(0))) discover_probes(fn->graph(), full + ".", out);
  }
}

bool starts_with(const std::string& s, const std::string& p) { return s.size() >= p.size() && s.compare(0, p.size(), p) == 0; }

std::string tensor_signature(const std::string& kind, const std::string& name, const torch::Tensor& t) {
  return kind + " " + name + " " + shape_str(t.sizes()) + " " + c10::toString(t.scalar_type()) + "\n";
}

torch::jit::Module load_module(const std::string& path) {
  if (!file_exists(path)) throw_io(path + ": TorchScript model file not found");
  try {
    std::istringstream bytes(read_checked_archive(path));  // read once, integrity-checked
    return torch::jit::load(bytes, torch::Device(torch::kCPU));
  } catch (const std::exception& e) {
    throw_bad_input(path + ": not a TorchScript file (save with torch.jit.script(model).save(path); a torch.save'd "
                    "state_dict or pickled model cannot be read): " + brief(e));
  }
}

template <class List>
std::vector<NamedTensor> named(const List& list) {
  std::vector<NamedTensor> out;
  for (const auto& item : list) out.emplace_back(item.name, item.value);
  return out;
}

}  // namespace

// One BatchNorm submodule: where its buffers live and how its momentum can be changed.
struct JitNetwork::BnState {
  std::string name;
  torch::jit::Module module;
  bool momentum_is_attribute = false;  // settable with setattr (not a scripted nn.BatchNorm*)
  std::optional<double> builtin;       // the baked-in momentum (nullopt: momentum=None, cumulative)
  std::optional<double> override_;    // set_momentum's value when it differs from `builtin` (-1 = cumulative)

  torch::Tensor buffer(const char* key) const { return module.attr(key).toTensor(); }
  bool has_counter() const { return module.hasattr("num_batches_tracked") && module.attr("num_batches_tracked").isTensor(); }
};

struct JitNetwork::ProbeGraph {
  std::shared_ptr<torch::jit::GraphFunction> fn;
  std::vector<std::string> names;  // outputs 1.. of the returned tuple; output 0 = logits
};

JitNetwork::JitNetwork(const ModelSpec& spec)
    : spec_(spec), input_shape_{spec.in_channels, spec.image_size, spec.image_size}, module_(load_module(spec_.path)) {
  const std::string& path = spec_.path;
  if (!module_.find_method("forward"))
    throw_bad_input(path + ": the TorchScript module has no forward method (a closerlook built-in checkpoint holds "
                    "weights only; open it through its run folder)");
  std::string sig;
  for (const auto& [kind, list] : {std::make_pair(std::string("param"), named(module_.named_parameters(true))),
                                   std::make_pair(std::string("buffer"), named(module_.named_buffers(true)))}) {
    for (const auto& [name, t] : list) {
      if (t.is_floating_point() && t.scalar_type() != torch::kFloat32)
        throw_bad_input(path + ": " + kind + " '" + name + "' has dtype " + c10::toString(t.scalar_type()) +
                        "; closerlook works in float32 (call model.float() before saving)");
      sig += tensor_signature(kind, name, t);
    }
  }
  if (module_.named_parameters(true).size() == 0) throw_bad_input(path + ": the TorchScript module has no parameters");

  // BatchNorm layers: a type named *BatchNorm* with tensor running statistics.
  for (const auto& sub : module_.named_modules()) {
    if (sub.name.empty()) continue;
    const auto& type = sub.value.type();
    if (!type->name() || type->name()->name().find("BatchNorm") == std::string::npos) continue;
    if (!sub.value.hasattr("running_mean") || !sub.value.attr("running_mean").isTensor() ||
        !sub.value.hasattr("running_var") || !sub.value.attr("running_var").isTensor())
      continue;  // track_running_stats=False: nothing to recalibrate
    auto bn = std::make_shared<BnState>();
    bn->name = sub.name;
    bn->module = sub.value;
    if (type->hasConstant("momentum")) {
      const auto c = type->getConstant("momentum");
      if (c.isNone()) bn->builtin = std::nullopt;
      else bn->builtin = c.toDouble();
    } else if (type->hasAttribute("momentum")) {
      bn->momentum_is_attribute = true;
      const auto a = sub.value.attr("momentum");
      if (!a.isNone()) bn->builtin = a.toDouble();
    } else {
      bn->builtin = 0.1;  // no momentum anywhere: treat as PyTorch's default, checked by the update
    }
    bns_.push_back(bn);
  }

  has_probes_method_ = module_.find_method("probes").has_value();
  if (!has_probes_method_) discover_probes(torch::jit::toGraphFunction(module_.get_method("forward").function()).graph(), "", available_);

  // One eval-mode pass on a zero batch: the output is a N x classes tensor, probes' keys.
  {
    std::vector<int64_t> shape = {2};
    shape.insert(shape.end(), input_shape_.begin(), input_shape_.end());
    const auto x = torch::zeros(shape);
    torch::NoGradGuard ng;
    module_.eval();
    torch::Tensor logits;
    try {
      logits = to_logits(module_.forward({x}), "forward");
      if (has_probes_method_) {
        auto out = module_.get_method("probes")({x});
        if (!out.isGenericDict()) throw_bad_input(path + ": probes(x) must return a Dict[str, Tensor]");
        for (const auto& kv : out.toGenericDict()) {
          if (!kv.key().isString() || !kv.value().isTensor())
            throw_bad_input(path + ": probes(x) must return a Dict[str, Tensor]");
          if (kv.key().toStringRef() != "logits") available_.push_back(kv.key().toStringRef());
        }
      }
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw_bad_input(path + ": forward failed on a zero batch of shape " + shape_str(shape) +
                      " (the data's shape): " + brief(e));
    }
    if (logits.dim() != 2 || logits.size(0) != 2 || logits.size(1) != spec_.num_classes)
      throw_bad_input(path + ": forward maps a batch of shape " + shape_str(shape) + " to " + shape_str(logits.sizes()) +
                      ", expected [2, " + std::to_string(spec_.num_classes) + "] (the data has " +
                      std::to_string(spec_.num_classes) + " classes)");
  }
  if (std::find(available_.begin(), available_.end(), "logits") == available_.end()) available_.push_back("logits");
  probes_ = spec_.probes.empty() ? available_ : spec_.probes;
  for (const auto& p : probes_)
    if (std::find(available_.begin(), available_.end(), p) == available_.end())
      throw_bad_input(path + ": probe '" + p + "' is not available (available: " + join_names(available_) +
                      "; a probe is a submodule whose forward the model calls exactly once, or a key of probes(x))");
  module_.train(true);

  arch_ = "torchscript " + clean_class_name(module_) + " params=" +
          std::to_string(module_.named_parameters(true).size()) + " sig=" + content_hash(sig).substr(0, 12);
  arch_ += " in=" + std::to_string(input_shape_[0]) + "x" + std::to_string(input_shape_[1]) + "x" +
           std::to_string(input_shape_[2]) + " classes=" + std::to_string(spec_.num_classes);
}

std::string jit_model_arch(const ModelSpec& spec) { return JitNetwork(spec).arch(); }

void JitNetwork::check_input(const torch::Tensor& x) const {
  check_input_batch(arch_, x, input_shape_, /*accepts_flat=*/false);
}

torch::Tensor JitNetwork::to_logits(const c10::IValue& out, const char* what) const {
  if (!out.isTensor())
    throw_bad_input(spec_.path + ": " + what + " returned " + out.tagKind() + ", expected a Tensor of logits");
  return out.toTensor();
}

c10::IValue JitNetwork::run_with_bn_update(const std::function<c10::IValue()>& pass) {
  std::vector<std::shared_ptr<BnState>> active;
  if (module_.is_training())
    for (auto& bn : bns_)
      if (bn->override_) active.push_back(bn);
  if (active.empty()) return pass();

  struct Saved {
    torch::Tensor mean, var;
    int64_t count = 0;
  };
  std::vector<Saved> saved(active.size());
  {
    torch::NoGradGuard ng;
    for (size_t l = 0; l < active.size(); ++l) {
      auto mean = active[l]->buffer("running_mean"), var = active[l]->buffer("running_var");
      saved[l].mean = mean.clone();
      saved[l].var = var.clone();
      if (active[l]->has_counter()) saved[l].count = active[l]->buffer("num_batches_tracked").item<int64_t>();
      // The module's own update now leaves exactly f * (batch statistic) in the buffers.
      mean.zero_();
      var.zero_();
    }
  }
  auto restore = [&] {
    torch::NoGradGuard ng;
    for (size_t l = 0; l < active.size(); ++l) {
      active[l]->buffer("running_mean").copy_(saved[l].mean);
      active[l]->buffer("running_var").copy_(saved[l].var);
    }
  };
  c10::IValue out;
  try {
    out = pass();
  } catch (...) {
    restore();
    throw;
  }
  torch::NoGradGuard ng;
  for (size_t l = 0; l < active.size(); ++l) {
    auto& bn = *active[l];
    int64_t count = 0;
    if (bn.has_counter()) {
      count = bn.buffer("num_batches_tracked").item<int64_t>();
      if (count == saved[l].count) {
        restore();
        throw_bad_input(spec_.path + ": BatchNorm layer '" + bn.name +
                        "' did not update its running statistics in train mode (a traced module freezes train/eval "
                        "behaviour at trace time; save the model with torch.jit.script instead)");
      }
    } else if (!bn.builtin || *bn.override_ < 0) {
      restore();
      throw_bad_input(spec_.path + ": BatchNorm layer '" + bn.name +
                      "' has no num_batches_tracked counter, so a cumulative average cannot be formed");
    }
    const double f = bn.builtin ? *bn.builtin : 1.0 / static_cast<double>(count);
    const double m = *bn.override_ >= 0 ? *bn.override_ : 1.0 / static_cast<double>(count);
    for (const char* key : {"running_mean", "running_var"}) {
      auto buf = bn.buffer(key);
      const auto& old = std::string(key) == "running_mean" ? saved[l].mean : saved[l].var;
      auto batch = buf.to(torch::kFloat64) / f;
      auto blended = m == 1.0 ? batch : old.to(torch::kFloat64) * (1.0 - m) + batch * m;
      buf.copy_(blended);
    }
  }
  return out;
}

torch::Tensor JitNetwork::forward(const torch::Tensor& x) {
  check_input(x);
  return to_logits(run_with_bn_update([&] { return module_.forward({x}); }), "forward");
}

std::shared_ptr<JitNetwork::ProbeGraph> JitNetwork::probe_graph(const std::vector<std::string>& probes) {
  std::vector<std::string> wanted;
  for (const auto& p : probes)
    if (p != "logits" && std::find(wanted.begin(), wanted.end(), p) == wanted.end()) wanted.push_back(p);
  const std::string key = join_names(wanted);
  auto it = probe_graphs_.find(key);
  if (it != probe_graphs_.end()) return it->second;

  auto g = torch::jit::toGraphFunction(module_.get_method("forward").function()).graph()->copy();
  Value* self = g->inputs()[0];
  std::map<std::string, Value*> found;
  std::set<Node*> seen;
  // Inline the calls on the way to a wanted submodule until every wanted call sits in the
  // top-level block of the root graph, where its output can be returned.
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<Node*> nodes(g->block()->nodes().begin(), g->block()->nodes().end());
    for (Node* n : nodes) {
      if (!is_forward_call(n) || seen.count(n)) continue;
      auto path = attr_path(n->input(0), self);
      if (!path) continue;
      const bool is_wanted = std::find(wanted.begin(), wanted.end(), *path) != wanted.end();
      const bool leads_to_wanted =
          std::any_of(wanted.begin(), wanted.end(), [&](const std::string& w) { return starts_with(w, *path + "."); });
      if (!is_wanted && !leads_to_wanted) continue;
      Value* out = nullptr;
      if (leads_to_wanted) {
        auto* fn = forward_of(n->input(0));
        if (!fn) throw Error(ExitCode::Internal, spec_.path + ": cannot inline the forward of '" + *path + "'");
        auto outs = torch::jit::inlineCallTo(n, fn, fn->graph().get());
        changed = true;
        if (outs.size() == 1) out = outs[0];
      } else {
        seen.insert(n);
        if (n->outputs().size() == 1) out = n->output();
      }
      if (is_wanted) {
        if (found.count(*path))
          throw_bad_input(spec_.path + ": probe '" + *path + "' is called more than once in forward");
        found[*path] = out;
      }
    }
  }
  auto pg = std::make_shared<ProbeGraph>();
  std::vector<Value*> outputs = {g->outputs()[0]};
  for (const auto& w : wanted) {
    Value* v = found.count(w) ? found[w] : nullptr;
    if (!v || !v->type()->isSubtypeOf(*c10::TensorType::get()))
      throw Error(ExitCode::Internal, spec_.path + ": probe '" + w + "' was not found as a Tensor in the forward graph");
    // A copy taken right away: later in-place ops (ReLU(inplace=True)) must not change it.
    torch::jit::WithInsertPoint guard(v->node()->next());
    outputs.push_back(g->insert(c10::aten::clone, {v}));
    pg->names.push_back(w);
  }
  {
    torch::jit::WithInsertPoint guard(g->return_node());
    Node* tuple = g->insertNode(g->createTuple(outputs));
    g->eraseOutput(0);
    g->registerOutput(tuple->output());
  }
  g->lint();
  pg->fn = std::make_shared<torch::jit::GraphFunction>(c10::QualifiedName("closerlook_probes"), g, nullptr);
  probe_graphs_[key] = pg;
  return pg;
}

torch::Tensor JitNetwork::forward_probes(const torch::Tensor& x, const std::vector<std::string>& probes,
                                         std::map<std::string, torch::Tensor>& acts) {
  for (const auto& p : probes)
    if (std::find(probes_.begin(), probes_.end(), p) == probes_.end())
      throw_bad_input("network '" + arch_ + "' (" + spec_.path + "): unknown probe '" + p +
                      "' (valid: " + join_names(probes_) + ")");
  check_input(x);
  const bool want_logits = std::find(probes.begin(), probes.end(), "logits") != probes.end();
  torch::Tensor logits;
  if (has_probes_method_) {
    c10::IValue dict_value;
    run_with_bn_update([&] {
      dict_value = module_.get_method("probes")({x});
      return dict_value;
    });
    c10::IValue logits_value;
    for (const auto& kv : dict_value.toGenericDict()) {
      const std::string& k = kv.key().toStringRef();
      if (k == "logits") logits_value = kv.value();
      else if (std::find(probes.begin(), probes.end(), k) != probes.end()) acts[k] = kv.value().toTensor();
    }
    for (const auto& p : probes)
      if (p != "logits" && !acts.count(p))
        throw_bad_input(spec_.path + ": probes(x) returned no entry '" + p + "' for this batch");
    // No "logits" entry: a second pass (BN statistics would update twice in train mode).
    logits = logits_value.isTensor() ? logits_value.toTensor() : forward(x);
  } else {
    auto pg = probe_graph(probes);
    auto out = run_with_bn_update([&] {
      torch::jit::Stack stack{module_._ivalue(), x};
      pg->fn->run(stack);
      return stack.back();
    });
    const auto& elems = out.toTupleRef().elements();
    logits = to_logits(elems[0], "forward");
    for (size_t i = 0; i < pg->names.size(); ++i) acts[pg->names[i]] = elems[i + 1].toTensor();
  }
  if (want_logits) acts["logits"] = logits;
  return logits;
}

std::vector<NamedTensor> JitNetwork::named_parameters() { return named(module_.named_parameters(true)); }

std::vector<NamedTensor> JitNetwork::named_buffers() { return named(module_.named_buffers(true)); }

std::vector<BatchNormHandle> JitNetwork::batchnorms() {
  std::vector<BatchNormHandle> out;
  for (auto& bn : bns_) {
    BatchNormHandle h;
    h.name = bn->name;
    h.running_mean = bn->buffer("running_mean");
    h.running_var = bn->buffer("running_var");
    const std::string path = spec_.path;
    h.set_momentum = [bn, path](double m) {
      if (bn->momentum_is_attribute) {
        bn->module.setattr("momentum", m < 0 ? c10::IValue() : c10::IValue(m));
        bn->builtin = m < 0 ? std::nullopt : std::optional<double>(m);
        bn->override_.reset();
        return;
      }
      const bool same = m < 0 ? !bn->builtin.has_value() : (bn->builtin && *bn->builtin == m);
      if (same) {
        bn->override_.reset();
        return;
      }
      if (bn->builtin && *bn->builtin == 0.0)
        throw_bad_input(path + ": BatchNorm layer '" + bn->name +
                        "' has momentum 0 baked in (its statistics never update), so they cannot be recalibrated");
      bn->override_ = m < 0 ? -1.0 : m;
    };
    h.get_momentum = [bn]() -> double {
      if (bn->override_) return *bn->override_;
      return bn->builtin ? *bn->builtin : -1.0;
    };
    out.push_back(std::move(h));
  }
  return out;
}

void JitNetwork::to(torch::Device device) {
  module_.to(device);  // in place (set_data): parameter references and BN handles stay valid
  device_ = device;
}

void JitNetwork::save(const std::string& path) {
  // In memory first (see ModuleNetwork::save: LibTorch's file writer aborts on a full disk).
  torch::jit::ExtraFilesMap extra{{kJitArchFile, arch_}};
  std::ostringstream bytes;
  module_.save(bytes, extra);
  write_file_atomic(path, bytes.str());
}

void JitNetwork::load(const std::string& path) {
  torch::jit::Module other = load_module(path);
  auto check = [&](const std::vector<NamedTensor>& mine, const std::vector<NamedTensor>& theirs, const char* kind) {
    std::vector<std::pair<torch::Tensor, torch::Tensor>> pairs;
    for (size_t i = 0; i < std::max(mine.size(), theirs.size()); ++i) {
      if (i >= theirs.size())
        throw_bad_input(path + ": " + kind + " '" + mine[i].first + "' is missing (the network '" + arch_ +
                        "' has " + std::to_string(mine.size()) + " " + kind + "s, the file " +
                        std::to_string(theirs.size()) + "); another architecture");
      if (i >= mine.size())
        throw_bad_input(path + ": has an extra " + kind + " '" + theirs[i].first + "' that the network '" + arch_ +
                        "' lacks; another architecture");
      const auto& [name, dst] = mine[i];
      const auto& src = theirs[i].second;
      if (theirs[i].first != name)
        throw_bad_input(path + ": " + kind + " " + std::to_string(i) + " is '" + theirs[i].first +
                        "', the network expects '" + name + "'; another architecture");
      check_same_layout(path, kind, name, src, dst, "; another architecture");
      pairs.emplace_back(dst, src);
    }
    return pairs;
  };
  // Check everything before copying anything: a bad file leaves the network untouched.
  auto params = check(named_parameters(), named(other.named_parameters(true)), "parameter");
  auto buffers = check(named_buffers(), named(other.named_buffers(true)), "buffer");
  torch::NoGradGuard ng;
  for (auto& [dst, src] : params) dst.copy_(src);
  for (auto& [dst, src] : buffers) dst.copy_(src);
}

}  // namespace closerlook
