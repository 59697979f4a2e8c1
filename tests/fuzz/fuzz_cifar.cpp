// CIFAR-10 / CIFAR-100 binary readers. Byte 0 picks the format (bit 0); the rest is the file.
#include "data/cifar.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string path = closerlook::fuzz::scratch_path(".bin");
  closerlook::fuzz::write_file(path, data + 1, size - 1);
  closerlook::fuzz::expect_clean("fuzz_cifar", [&] {
    auto raw = (data[0] & 1) ? closerlook::read_cifar100_files({path}) : closerlook::read_cifar10_files({path});
    // Whatever is accepted must be consistent: one label per image, labels in range.
    if (raw.images.size(0) != raw.labels.size(0)) std::abort();
    const int64_t classes = (data[0] & 1) ? 100 : 10;
    if (raw.labels.numel() && (raw.labels.min().item<int64_t>() < 0 || raw.labels.max().item<int64_t>() >= classes))
      std::abort();
  });
  std::remove(path.c_str());
  return 0;
}
