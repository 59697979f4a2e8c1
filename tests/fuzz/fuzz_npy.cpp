// NPY parser (v1/v2 headers, dtypes, shapes). An accepted array must survive write -> read -> write
// with the same shape, dtype and bytes.
#include "core/npy.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  closerlook::fuzz::expect_clean("fuzz_npy", [&] {
    torch::Tensor t = closerlook::npy_from_bytes(bytes, "fuzz.npy");
    // Write and read back: the same shape, dtype and values.
    const std::string once = closerlook::npy_to_bytes(t);
    torch::Tensor u = closerlook::npy_from_bytes(once, "roundtrip.npy");
    if (t.sizes() != u.sizes() || t.scalar_type() != u.scalar_type()) std::abort();
    // Bytes, not values: NaN payloads must survive too.
    if (closerlook::npy_to_bytes(u) != once) std::abort();
  });
  return 0;
}
