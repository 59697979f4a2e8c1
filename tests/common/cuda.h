// What every CUDA test shares: the visible reason for skipping without a device (and whether the
// binary is a CUDA build), and strict float32 (no TF32, deterministic cuDNN) for CPU comparisons.
#pragma once
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

namespace closerlook::testing {

inline std::string no_cuda_reason() {
#ifdef CL_WITH_CUDA
  return "no CUDA device: this binary was built with CL_WITH_CUDA=1, but torch::cuda::is_available() is false "
         "(no GPU or no driver on this machine)";
#else
  return "no CUDA device: this binary was built without CL_WITH_CUDA (the CPU build links libtorch_cpu only; "
         "configure the `cuda` preset for a CUDA build)";
#endif
}

}  // namespace closerlook::testing

#define CL_REQUIRE_CUDA()                                               \
  do {                                                                  \
    if (!torch::cuda::is_available()) GTEST_SKIP() << ::closerlook::testing::no_cuda_reason(); \
  } while (0)

namespace closerlook::testing {

// IEEE float32 on the GPU (no TF32) and deterministic cuDNN for the comparisons, restored after.
class StrictCuda {
 public:
  StrictCuda() {
    auto& c = at::globalContext();
    cudnn_tf32_ = c.allowTF32CuDNN();
    cublas_tf32_ = c.allowTF32CuBLAS();
    det_ = c.deterministicCuDNN();
    c.setAllowTF32CuDNN(false);
    c.setAllowTF32CuBLAS(false);
    c.setDeterministicCuDNN(true);
  }
  ~StrictCuda() {
    auto& c = at::globalContext();
    c.setAllowTF32CuDNN(cudnn_tf32_);
    c.setAllowTF32CuBLAS(cublas_tf32_);
    c.setDeterministicCuDNN(det_);
  }

 private:
  bool cudnn_tf32_ = true, cublas_tf32_ = false, det_ = false;
};

}  // namespace closerlook::testing
