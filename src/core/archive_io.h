// Checkpoint archives (LibTorch's zip format) through closerlook's own file layer, in one place:
// written from memory by the atomic writer (LibTorch's file writer throws again from its
// destructor when a write fails, which terminates the process), and read once, integrity-checked
// (zip_check.h: LibTorch can crash on a damaged record), then parsed from memory.
#pragma once
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <string>

namespace closerlook {

// Serialises `archive` in memory and writes it to `path` atomically (Error(Io) on failure).
void write_archive_atomic(const std::string& path, torch::serialize::OutputArchive& archive);

// The bytes of the archive at `path`, after verify_zip_records: Error(Io) if it cannot be read,
// Error(BadInput) naming the file and record if it is damaged.
std::string read_checked_archive(const std::string& path);

// read_checked_archive, then archive.load_from those bytes. LibTorch's own errors (c10::Error,
// e.g. a foreign but intact zip) pass through for the caller to word.
void load_checked_archive(const std::string& path, torch::serialize::InputArchive& archive,
                          std::optional<torch::Device> device = std::nullopt);

}  // namespace closerlook
