// Process-wide runtime set-up: thread count, device, and the metadata recorded with every run.
#pragma once
#include <torch/types.h>

#include <nlohmann/json.hpp>
#include <string>

namespace closerlook {

// Resolves the thread count: `requested` if > 0, else SLURM_CPUS_PER_TASK, then
// OMP_NUM_THREADS, then the hardware concurrency. (LibTorch 1.13 defaults to 1 on small VMs.)
int resolve_threads(int requested);

// Calls at::set_num_threads once, early, from the main thread. Returns the count set.
int init_threads(int requested);

// The memory format build_model gives conv networks (Network::set_memory_format):
// contiguous unless set otherwise (the CLI's --memory-format). Channels-last trains VGG-like nets
// faster on CPU, but LibTorch 2.15's oneDNN gets strided 1x1 convolutions' gradients wrong in it,
// so networks with those (ResNets) stay contiguous on CPU (module_network.cpp).
// Process-wide, like the thread count.
at::MemoryFormat default_memory_format();
void set_default_memory_format(at::MemoryFormat format);
// "channels-last" | "contiguous" (Error(BadInput) naming `what` otherwise), and back.
at::MemoryFormat parse_memory_format(const std::string& name, const std::string& what);
std::string memory_format_name(at::MemoryFormat format);

// True when this binary links LibTorch's CUDA libraries (the `cuda` preset, CLOSERLOOK_CUDA=ON).
bool built_with_cuda();

// "cpu", "cuda", "cuda:1". A CUDA device on a CPU build, or with no GPU visible, is a clear
// Error(BadInput) saying which.
torch::Device parse_device(const std::string& spec);

// Library versions, BLAS, thread count, git commit, host: stored in each run's config.json.
nlohmann::json runtime_metadata();

// The git commit of the source tree this binary was built from ("unknown" outside git).
std::string git_commit();

}  // namespace closerlook
