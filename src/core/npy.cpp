#include "core/npy.h"

#include <torch/torch.h>

#include <cstring>
#include <regex>

#include "core/atomic_file.h"
#include "core/error.h"

namespace closerlook {
namespace {

struct DtypeInfo {
  const char* descr;
  torch::ScalarType type;
  size_t size;
};

const DtypeInfo kDtypes[] = {
    {"<f4", torch::kFloat32, 4}, {"<f8", torch::kFloat64, 8}, {"|u1", torch::kUInt8, 1},
    {"<u1", torch::kUInt8, 1},   {"<i4", torch::kInt32, 4},   {"<i8", torch::kInt64, 8},
};

[[noreturn]] void bad(const std::string& name, const std::string& what) {
  throw_bad_input(name + ": not a valid .npy file: " + what);
}

}  // namespace

torch::Tensor npy_from_bytes(const std::string& bytes, const std::string& name) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) bad(name, "missing \\x93NUMPY magic");
  const uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) bad(name, "truncated header length");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    header_start = 12;
  } else {
    bad(name, "unsupported format version " + std::to_string(major));
  }
  if (header_start + header_len > bytes.size()) bad(name, "header is truncated");
  const std::string header = bytes.substr(header_start, header_len);

  std::smatch m;
  static const std::regex descr_re("'descr'\\s*:\\s*'([^']*)'");
  static const std::regex fortran_re("'fortran_order'\\s*:\\s*(True|False)");
  static const std::regex shape_re("'shape'\\s*:\\s*\\(([^)]*)\\)");
  if (!std::regex_search(header, m, descr_re)) bad(name, "header has no 'descr'");
  const std::string descr = m[1];
  if (!std::regex_search(header, m, fortran_re)) bad(name, "header has no 'fortran_order'");
  if (m[1] == "True") bad(name, "Fortran-order arrays are not supported (save with np.ascontiguousarray)");
  if (!std::regex_search(header, m, shape_re)) bad(name, "header has no 'shape'");
  std::vector<int64_t> shape;
  {
    const std::string dims = m[1];
    size_t pos = 0;
    while (pos < dims.size()) {
      while (pos < dims.size() && (dims[pos] == ' ' || dims[pos] == ',')) ++pos;
      if (pos >= dims.size()) break;
      size_t end = pos;
      while (end < dims.size() && std::isdigit(static_cast<unsigned char>(dims[end]))) ++end;
      if (end == pos || end - pos > 15) bad(name, "bad shape '(" + dims + ")'");
      shape.push_back(std::stoll(dims.substr(pos, end - pos)));
      pos = end;
      while (pos < dims.size() && dims[pos] == ' ') ++pos;
      if (pos < dims.size() && dims[pos] != ',') bad(name, "bad shape '(" + dims + ")'");
    }
  }
  const DtypeInfo* info = nullptr;
  for (const auto& d : kDtypes)
    if (descr == d.descr) info = &d;
  if (!info) bad(name, "unsupported dtype '" + descr + "' (use float32, float64, uint8, int32 or int64, little-endian)");

  // The element count, and the product of the non-zero dimensions: an empty array with huge other
  // dimensions still has strides that must fit (LibTorch throws "Stride calculation overflowed",
  // found by fuzz_npy on the shape (0, 181681676199, 4466199, 446)).
  size_t count = 1, strided = 1;
  for (int64_t d : shape) {
    if (d < 0) bad(name, "negative dimension");
    if (d != 0 && strided > (size_t(1) << 40) / static_cast<size_t>(d)) bad(name, "shape is too large");
    if (d != 0) strided *= static_cast<size_t>(d);
    count *= static_cast<size_t>(d);
  }
  const size_t payload = bytes.size() - header_start - header_len;
  if (payload < count * info->size)
    bad(name, "data is truncated: expected " + std::to_string(count * info->size) + " bytes, found " +
                  std::to_string(payload));
  auto t = torch::empty(shape, torch::TensorOptions().dtype(info->type));
  if (count > 0) std::memcpy(t.data_ptr(), bytes.data() + header_start + header_len, count * info->size);
  return t;
}

torch::Tensor read_npy(const std::string& path) { return npy_from_bytes(read_file(path), path); }

std::string npy_to_bytes(const torch::Tensor& tensor) {
  auto t = tensor.detach().to(torch::kCPU).contiguous();
  const char* descr = nullptr;
  for (const auto& d : kDtypes)
    if (d.type == t.scalar_type() && !descr) descr = d.descr;
  if (!descr) throw Error(ExitCode::Internal, std::string("write_npy: unsupported dtype ") + c10::toString(t.scalar_type()));
  std::string shape;
  for (int64_t d : t.sizes()) shape += std::to_string(d) + ", ";
  if (t.dim() > 1) shape.resize(shape.size() - 2);
  if (t.dim() == 1) shape.resize(shape.size() - 1);
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Pad so that the data starts on a 64-byte boundary; header ends with '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>((header.size() >> 8) & 0xff));
  out += header;
  out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return out;
}

void write_npy(const std::string& path, const torch::Tensor& t) { write_file_atomic(path, npy_to_bytes(t)); }

}  // namespace closerlook
