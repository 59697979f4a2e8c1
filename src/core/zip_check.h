// Integrity check of a zip archive's stored records (every LibTorch checkpoint is a zip).
// LibTorch 1.13 reads checkpoints with miniz built without CRC checks, and its TorchScript
// importer can crash (SEGV, found by fuzz_checkpoint) on a corrupted record instead of throwing.
// Verifying every record's CRC-32 first turns random corruption (bit flips, truncation, partial
// copies) into a clear Error(BadInput) (checkpoints are read through core/archive_io.h). It is not a defence against a deliberately crafted file:
// a checkpoint holds TorchScript code, so load only checkpoints you trust (docs/reliability.md).
#pragma once
#include <string>

namespace closerlook {

// Throws Error(BadInput) naming `name` and the first bad entry when `bytes` is not a well-formed
// zip (end record, central directory, local headers in bounds) or a record's CRC-32 differs.
void verify_zip_records(const std::string& bytes, const std::string& name);

}  // namespace closerlook
