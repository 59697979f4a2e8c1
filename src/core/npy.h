// NPY (numpy .npy v1/v2) reading and writing for torch tensors. Little-endian, C order.
// Supported dtypes: float32 <f4, float64 <f8, uint8 |u1, int32 <i4, int64 <i8.
// Any malformed header, unsupported dtype, Fortran order or truncated payload is an
// Error(BadInput) that names the file and the problem.
#pragma once
#include <torch/types.h>

#include <string>

namespace closerlook {

// Parses NPY bytes; `name` is used in error messages.
torch::Tensor npy_from_bytes(const std::string& bytes, const std::string& name);
torch::Tensor read_npy(const std::string& path);

// Serialises a CPU or device tensor (copied to CPU, made contiguous) in its own dtype.
std::string npy_to_bytes(const torch::Tensor& t);
void write_npy(const std::string& path, const torch::Tensor& t);  // atomic

}  // namespace closerlook
