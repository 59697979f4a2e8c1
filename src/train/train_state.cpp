#include "train/train_state.h"

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <mutex>

#include "core/atomic_file.h"
#include "core/archive_io.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace closerlook {

std::string state_path(const std::string& run_dir, const std::string& tag) {
  return (fs::path(run_dir) / "checkpoints" / (tag + ".state.pt")).string();
}

namespace {
std::vector<NamedTensor> weights_and_buffers(Network& net) {
  auto all = net.named_parameters();
  for (auto& b : net.named_buffers()) all.push_back(b);
  return all;
}
}  // namespace

void save_train_state(const std::string& path, const torch::optim::Optimizer& opt, Network* net, const TrainState& st) {
  torch::serialize::OutputArchive ar;
  torch::serialize::OutputArchive opt_ar;
  opt.save(opt_ar);
  ar.write("optimizer", opt_ar);
  ar.write("iter", c10::IValue(st.iter));
  ar.write("progress", c10::IValue(st.progress.dump()));
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    ar.write("rng_cpu", gen.get_state(), /*is_buffer=*/true);
  }
  if (net) {
    // Keys are positional ("t<i>"): archive keys may not contain the dots of parameter names.
    nlohmann::json names = nlohmann::json::array();
    auto all = weights_and_buffers(*net);
    for (size_t i = 0; i < all.size(); ++i) {
      names.push_back(all[i].first);
      ar.write("t" + std::to_string(i), all[i].second.detach().to(torch::kCPU), /*is_buffer=*/true);
    }
    ar.write("tensor_names", c10::IValue(names.dump()));
    ar.write("arch", c10::IValue(net->arch()));
  }
  write_archive_atomic(path, ar);
}

TrainState load_train_state(const std::string& path, torch::optim::Optimizer& opt, Network* net) {
  if (!file_exists(path)) throw_bad_input(path + ": training state not found");
  // Any library exception below (a missing entry, a wrong type, unparsable JSON, a tensor of the
  // wrong kind) means a corrupt or foreign file: one Error(BadInput) naming it, never a crash.
  auto corrupt = [&](const std::exception& e) -> Error {
    return Error(ExitCode::BadInput, path + ": corrupt or foreign training state: " + first_line(e.what()));
  };
  torch::serialize::InputArchive ar;
  try {
    load_checked_archive(path, ar);
  } catch (const std::exception& e) {
    throw_bad_input(path + ": unreadable training state (" + first_line(e.what()) + ")");
  }
  // 1. Read and check everything.
  TrainState st;
  torch::serialize::InputArchive opt_ar;
  torch::Tensor rng;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (network tensor, stored tensor)
  try {
    c10::IValue v;
    ar.read("iter", v);
    st.iter = v.toInt();
    if (st.iter < 0) throw_bad_input(path + ": negative iteration " + std::to_string(st.iter));
    ar.read("progress", v);
    st.progress = nlohmann::json::parse(v.toStringRef());
    ar.read("optimizer", opt_ar);
    ar.read("rng_cpu", rng, /*is_buffer=*/true);
    if (rng.scalar_type() != torch::kUInt8 || rng.dim() != 1)
      throw_bad_input(path + ": the saved random-generator state is not a byte vector");
    if (net) {
      c10::IValue names_v, arch_v;
      if (!ar.try_read("tensor_names", names_v) || !ar.try_read("arch", arch_v))
        throw_bad_input(path + ": holds no weights (only the rolling 'last' state does)");
      if (arch_v.toStringRef() != net->arch())
        throw_bad_input(path + ": saved for architecture '" + arch_v.toStringRef() + "', not '" + net->arch() + "'");
      auto names = nlohmann::json::parse(names_v.toStringRef());
      auto all = weights_and_buffers(*net);
      if (!names.is_array() || names.size() != all.size())
        throw_bad_input(path + ": tensor count differs from the network's");
      for (size_t i = 0; i < all.size(); ++i) {
        if (names[i].get<std::string>() != all[i].first)
          throw_bad_input(path + ": tensor " + std::to_string(i) + " is '" + names[i].get<std::string>() +
                          "', expected '" + all[i].first + "'");
        torch::Tensor t;
        ar.read("t" + std::to_string(i), t, /*is_buffer=*/true);
        if (!t.sizes().equals(all[i].second.sizes()) || t.scalar_type() != all[i].second.scalar_type())
          throw_bad_input(path + ": shape or dtype of '" + all[i].first + "' differs from the network's");
        copies.emplace_back(all[i].second, t);
      }
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw corrupt(e);
  }
  // 2. Apply. The optimizer checks its state against the parameters while loading.
  try {
    opt.load(opt_ar);
  } catch (const std::exception& e) {
    throw_bad_input(path + ": optimizer state does not match this run's parameters (" + first_line(e.what()) + ")");
  }
  try {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng);
  } catch (const std::exception& e) {
    throw corrupt(e);
  }
  torch::NoGradGuard ng;
  for (auto& [dst, src] : copies) dst.copy_(src);
  return st;
}

}  // namespace closerlook
