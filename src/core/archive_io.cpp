#include "core/archive_io.h"

#include <sstream>

#include "core/atomic_file.h"
#include "core/zip_check.h"

namespace closerlook {

void write_archive_atomic(const std::string& path, torch::serialize::OutputArchive& archive) {
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, bytes.str());
}

std::string read_checked_archive(const std::string& path) {
  std::string bytes = read_file(path);
  verify_zip_records(bytes, path);
  return bytes;
}

void load_checked_archive(const std::string& path, torch::serialize::InputArchive& archive,
                          std::optional<torch::Device> device) {
  const std::string bytes = read_checked_archive(path);
  archive.load_from(bytes.data(), bytes.size(), device);
}

}  // namespace closerlook
