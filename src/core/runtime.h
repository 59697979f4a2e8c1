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
