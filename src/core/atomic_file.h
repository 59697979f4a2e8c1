// Atomic file writes: write to a temporary file in the destination folder, fsync, rename.
// A reader (or a rerun after SIGKILL) sees either the old complete file or the new one.
#pragma once
#include <functional>
#include <string>

namespace closerlook {

// Writes `bytes` to `path` atomically. Creates parent folders. Throws Error(Io) naming the path.
void write_file_atomic(const std::string& path, const std::string& bytes);

// For writers that need a path (torch::save, ...): `writer(tmp_path)` writes the temp file,
// then it is fsynced and renamed over `path`. On any exception the temp file is removed.
void write_atomic_with(const std::string& path, const std::function<void(const std::string&)>& writer);

// Reads a whole file; throws Error(Io) naming the path if it cannot.
std::string read_file(const std::string& path);

bool file_exists(const std::string& path);
void make_dirs(const std::string& path);  // mkdir -p; throws Error(Io) naming the path

}  // namespace closerlook
