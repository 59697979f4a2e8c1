#include "models/module_network.h"

#include <iostream>
#include <mutex>
#include <sstream>

#include "core/atomic_file.h"
#include "core/archive_io.h"
#include "core/error.h"
#include "models/network_checks.h"

namespace closerlook {

namespace {

// Reads the tensor stored under dotted `name` (nested archives per submodule, as
// Module::save writes them). Returns an undefined tensor when any part is missing.
torch::Tensor read_dotted(torch::serialize::InputArchive& root, const std::string& name, bool is_buffer) {
  std::vector<std::string> parts;
  std::stringstream ss(name);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  // Nested InputArchives own their module, so keep the chain alive while descending.
  std::vector<torch::serialize::InputArchive> chain;
  torch::serialize::InputArchive* cur = &root;
  chain.reserve(parts.size());
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    chain.emplace_back();
    if (!cur->try_read(parts[i], chain.back())) return {};
    cur = &chain.back();
  }
  torch::Tensor t;
  if (!cur->try_read(parts.back(), t, is_buffer)) return {};
  return t;
}

}  // namespace

ModuleNetwork::ModuleNetwork(std::shared_ptr<ProbedModule> module, std::string arch, std::vector<int64_t> input_shape,
                             bool accepts_flat)
    : module_(std::move(module)), arch_(std::move(arch)), input_shape_(std::move(input_shape)), accepts_flat_(accepts_flat) {}

void ModuleNetwork::check_input(const torch::Tensor& x) const {
  check_input_batch(arch_, x, input_shape_, accepts_flat_);
}

torch::Tensor ModuleNetwork::in_layout(const torch::Tensor& x) const {
  return (format_ != at::MemoryFormat::Contiguous && x.dim() == 4) ? x.contiguous(format_) : x;
}

void ModuleNetwork::convert_parameters(at::MemoryFormat format) {
  torch::NoGradGuard no_grad;
  for (auto& p : module_->parameters())
    if (p.dim() == 4) p.set_data(p.detach().contiguous(format));
  format_ = format;
}

// oneDNN's AVX2 1x1 backward-weights kernel in LibTorch 2.15 (CPU) breaks on channels-last
// inputs when the convolution is strided and has fewer than 8 input channels (one AVX2 register
// of floats): the weight gradient is wrong (relative error ~1) or the call hangs or segfaults,
// varying run to run; the forward and the input gradient are right (bench/onednn_1x1_bug.py
// reproduces it in Python with the same wheel). With 8 input channels (resnet8 at width 0.5) the
// same block is right in Python, yet the C++ network's gradients still differ from the contiguous
// ones by ~1e-3 (1000x the thread-order floor) below the first strided shortcut, cause not found.
// So on CPU every network with a strided 1x1 convolution (the ResNets' projection shortcuts)
// stays contiguous, decided from the shapes: the bad kernel is never run to find out.
// Returns the first such convolution's name, or "".
std::string ModuleNetwork::channels_last_hazard() const {
  if (!device_.is_cpu()) return "";
  for (const auto& item : module_->named_modules("", /*include_self=*/false)) {
    const auto* conv = item.value()->as<torch::nn::Conv2d>();
    if (conv == nullptr) continue;
    const auto& o = conv->options;
    const auto k = *o.kernel_size();
    const auto st = *o.stride();
    if (k[0] == 1 && k[1] == 1 && (st[0] > 1 || st[1] > 1)) return item.key();
  }
  return "";
}

void ModuleNetwork::set_memory_format(at::MemoryFormat format) {
  CL_CHECK_INPUT(format == at::MemoryFormat::Contiguous || format == at::MemoryFormat::ChannelsLast,
                 "network '" + arch_ + "': memory format must be contiguous or channels-last");
  bool has_conv = false;
  for (const auto& p : module_->parameters()) has_conv |= p.dim() == 4;
  if (!has_conv || format == format_) return;
  if (format == at::MemoryFormat::ChannelsLast) {
    const std::string hazard = channels_last_hazard();
    if (!hazard.empty()) {
      static std::once_flag told;
      std::call_once(told, [&] {
        std::cerr << "closerlook: network '" << arch_ << "' runs contiguous: its strided 1x1 convolution '" << hazard
                  << "' is a shape whose channels-last CPU gradients LibTorch 2.15 gets wrong\n";
      });
      return convert_parameters(at::MemoryFormat::Contiguous);
    }
  }
  convert_parameters(format);
}

torch::Tensor ModuleNetwork::forward(const torch::Tensor& x) {
  check_input(x);
  return module_->forward_probed(in_layout(x), nullptr);
}

torch::Tensor ModuleNetwork::forward_probes(const torch::Tensor& x, const std::vector<std::string>& probes,
                                            std::map<std::string, torch::Tensor>& acts) {
  const auto valid = module_->probe_names();
  for (const auto& p : probes)
    if (std::find(valid.begin(), valid.end(), p) == valid.end())
      throw_bad_input("network '" + arch_ + "': unknown probe '" + p + "' (valid: " + join_names(valid) + ")");
  check_input(x);
  ProbeRecorder rec(probes, acts);
  return module_->forward_probed(in_layout(x), &rec);
}

std::vector<NamedTensor> ModuleNetwork::named_parameters() {
  std::vector<NamedTensor> out;
  for (const auto& kv : module_->named_parameters(/*recurse=*/true)) out.emplace_back(kv.key(), kv.value());
  return out;
}

std::vector<NamedTensor> ModuleNetwork::named_buffers() {
  std::vector<NamedTensor> out;
  for (const auto& kv : module_->named_buffers(/*recurse=*/true)) out.emplace_back(kv.key(), kv.value());
  return out;
}

namespace {
template <class BN>
bool add_handle(const std::string& name, const std::shared_ptr<torch::nn::Module>& m, std::vector<BatchNormHandle>& out) {
  auto bn = std::dynamic_pointer_cast<BN>(m);
  if (!bn) return false;
  BatchNormHandle h;
  h.name = name;
  h.running_mean = bn->running_mean;
  h.running_var = bn->running_var;
  h.set_momentum = [bn](double mom) {
    if (mom < 0)
      bn->options.momentum(std::nullopt);
    else
      bn->options.momentum(mom);
  };
  h.get_momentum = [bn]() -> double {
    const auto& mom = bn->options.momentum();
    return mom.has_value() ? *mom : -1.0;
  };
  out.push_back(std::move(h));
  return true;
}
}  // namespace

std::vector<BatchNormHandle> ModuleNetwork::batchnorms() {
  std::vector<BatchNormHandle> out;
  for (const auto& kv : module_->named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    if (!add_handle<torch::nn::BatchNorm2dImpl>(kv.key(), kv.value(), out))
      add_handle<torch::nn::BatchNorm1dImpl>(kv.key(), kv.value(), out);
  }
  return out;
}

void ModuleNetwork::to(torch::Device device) {
  module_->to(device);  // Module::to swaps data in place: tensors and BN handles stay valid
  device_ = device;
}

void ModuleNetwork::save(const std::string& path) {
  torch::serialize::OutputArchive archive;
  module_->save(archive);
  archive.write(kArchKey, c10::IValue(arch_));
  write_archive_atomic(path, archive);
}

void ModuleNetwork::load(const std::string& path) {
  if (!file_exists(path)) throw_io(path + ": checkpoint file not found");
  torch::serialize::InputArchive archive;
  try {
    load_checked_archive(path, archive, torch::Device(torch::kCPU));
  } catch (const std::exception& e) {
    throw_bad_input(path + ": not a readable checkpoint (truncated or corrupt?): " + first_line(e.what()));
  }
  c10::IValue stored;
  bool has_arch = false;
  try {
    has_arch = archive.try_read(kArchKey, stored) && stored.isString();
  } catch (const std::exception&) {
    has_arch = false;
  }
  if (!has_arch) throw_bad_input(path + ": no '" + std::string(kArchKey) + "' entry; not a closerlook model checkpoint");
  if (stored.toStringRef() != arch_)
    throw_bad_input(path + ": checkpoint architecture '" + stored.toStringRef() + "' differs from the network's '" +
                    arch_ + "'");

  // Read and check everything first, then copy: a bad file leaves the network untouched.
  struct Pending {
    torch::Tensor dst, src;
  };
  std::vector<Pending> pending;
  auto collect = [&](const std::vector<NamedTensor>& tensors, bool is_buffer) {
    for (const auto& [name, dst] : tensors) {
      torch::Tensor src;
      try {
        src = read_dotted(archive, name, is_buffer);
      } catch (const std::exception& e) {
        throw_bad_input(path + ": cannot read tensor '" + name + "': " + first_line(e.what()));
      }
      if (!src.defined()) throw_bad_input(path + ": tensor '" + name + "' is missing");
      check_same_layout(path, "tensor", name, src, dst);
      pending.push_back({dst, src});
    }
  };
  collect(named_parameters(), false);
  collect(named_buffers(), true);
  torch::NoGradGuard no_grad;
  for (auto& p : pending) p.dst.copy_(p.src);
}

}  // namespace closerlook
