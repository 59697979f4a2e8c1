#include "core/runtime.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/resources.h"

namespace closerlook {

namespace {
int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (end && *end == '\0' && n > 0 && n < 4096) ? static_cast<int>(n) : 0;
}
}  // namespace

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  if (int n = env_int("SLURM_CPUS_PER_TASK")) return n;
  if (int n = env_int("OMP_NUM_THREADS")) return n;
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

int init_threads(int requested) {
  int n = resolve_threads(requested);
  at::set_num_threads(n);
  return n;
}

namespace {
at::MemoryFormat g_memory_format = at::MemoryFormat::Contiguous;
}

at::MemoryFormat default_memory_format() { return g_memory_format; }
void set_default_memory_format(at::MemoryFormat format) { g_memory_format = format; }

at::MemoryFormat parse_memory_format(const std::string& name, const std::string& what) {
  if (name == "channels-last") return at::MemoryFormat::ChannelsLast;
  if (name == "contiguous") return at::MemoryFormat::Contiguous;
  throw_bad_input(what + " '" + name + "': expected channels-last or contiguous");
}

std::string memory_format_name(at::MemoryFormat format) {
  return format == at::MemoryFormat::ChannelsLast ? "channels-last" : "contiguous";
}

bool built_with_cuda() {
#if defined(CL_WITH_CUDA) && CL_WITH_CUDA
  return true;
#else
  return false;
#endif
}

torch::Device parse_device(const std::string& spec) {
  std::optional<torch::Device> dev;
  try {
    dev = torch::Device(spec);
  } catch (const std::exception&) {
    throw_bad_input("--device '" + spec + "': expected cpu, cuda or cuda:N");
  }
  if (dev->is_cuda() && !built_with_cuda())
    throw_bad_input("--device '" + spec + "': this closerlook is a CPU build (it links libtorch_cpu only); "
                    "build the `cuda` CMake preset (cmake --preset cuda) for GPUs");
  if (dev->is_cuda() && !torch::cuda::is_available())
    throw_bad_input("--device '" + spec + "': no CUDA device is visible (driver, CUDA_VISIBLE_DEVICES?)");
  if (!dev->is_cpu() && !dev->is_cuda()) throw_bad_input("--device '" + spec + "': only cpu and cuda are supported");
  return *dev;
}

nlohmann::json runtime_metadata() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  std::string cfg = at::show_config();
  std::string blas = "unknown";
  auto pos = cfg.find("BLAS_INFO=");
  if (pos != std::string::npos) blas = cfg.substr(pos + 10, cfg.find_first_of(", \n", pos + 10) - pos - 10);
  const bool cuda = torch::cuda::is_available();
  return {{"libtorch_version", TORCH_VERSION},
          {"blas", blas},
          {"threads", at::get_num_threads()},
          // What --memory-format asked for; a network that refuses channels-last (ResNets on CPU,
          // module_network.cpp) still runs contiguous.
          {"memory_format_requested", memory_format_name(g_memory_format)},
          {"git_commit", git_commit()},
          {"hostname", host},
          {"cuda_build", built_with_cuda()},
          {"cuda_available", cuda},
          {"cuda_devices", cuda ? static_cast<int64_t>(torch::cuda::device_count()) : 0},
          {"resource_root", resource_root()}};
}

}  // namespace closerlook
