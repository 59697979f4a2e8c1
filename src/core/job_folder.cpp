#include "core/job_folder.h"

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"

namespace closerlook {

namespace fs = std::filesystem;

const char* to_string(FolderState s) {
  switch (s) {
    case FolderState::Fresh: return "fresh";
    case FolderState::Resumable: return "resumable";
    case FolderState::Done: return "done";
  }
  return "?";
}

FolderState open_job_folder(const JobFolder& f, const std::function<bool()>& done) {
  if (file_exists(f.record_path())) {
    const nlohmann::json old = read_json(f.record_path());
    const std::string old_hash =
        old.is_object() && old.contains(f.hash_key) && old[f.hash_key].is_string() ? old[f.hash_key].get<std::string>() : "?";
    if (old_hash != f.hash)
      throw_bad_input(f.dir + ": holds " + f.what + " of another config (" + f.hash_key + " " + old_hash + " in " +
                      f.record + ", this one " + f.hash + "); choose another --out or remove the folder");
    return done && done() ? FolderState::Done : FolderState::Resumable;
  }
  std::error_code ec;
  if (!f.foreign_files_ok && fs::exists(f.dir, ec) && !fs::is_empty(f.dir, ec))
    throw_bad_input(f.dir + ": exists, is not empty and is not a closerlook job folder (no " + f.record + ")");
  return FolderState::Fresh;
}

void write_job_record(const JobFolder& f, nlohmann::json record) {
  make_dirs(f.dir);
  record[f.hash_key] = f.hash;
  write_json(f.record_path(), record);
}

bool file_has_hash(const JobFolder& f, const std::string& file, const std::string& key) {
  const std::string p = f.dir + "/" + file;
  if (!file_exists(p)) return false;
  const nlohmann::json j = read_json(p);
  return j.is_object() && j.contains(key) && j[key].is_string() && j[key].get<std::string>() == f.hash;
}

}  // namespace closerlook
