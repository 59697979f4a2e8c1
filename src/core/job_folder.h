// The one job-folder protocol. Every command that writes a folder of results (train, connect,
// import-model, plane) owns that folder for ONE configuration, identified by the content hash of
// everything that determines its outputs, recorded in <dir>/<record> (config.json; planes:
// plane-setup.json) under `hash_key`. Opening a folder says whether it is fresh (nothing there
// yet), resumable (this config's record is there, the work is not finished) or done; a folder
// of another config, or a non-empty folder that is not a job folder, is refused with one line
// naming the folder and both hashes. Results inside are written atomically by their writers
// (core/atomic_file.h), so a killed job leaves a resumable folder.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace closerlook {

struct JobFolder {
  std::string dir;
  std::string hash;
  std::string what;                     // "a run", "a curve", "an import", "a plane" (messages)
  std::string record = "config.json";   // the file holding the hash
  std::string hash_key = "config_hash";
  bool foreign_files_ok = false;        // the folder may already hold other files (a plane's --out)

  std::string record_path() const { return dir + "/" + record; }
};

enum class FolderState { Fresh, Resumable, Done };
const char* to_string(FolderState s);

// Checks the folder against the job (Error(BadInput) as above) and returns its state: Fresh
// without a record, Done when `done()` (given) says the work is finished, else Resumable.
FolderState open_job_folder(const JobFolder& f, const std::function<bool()>& done = {});

// Writes the record (creating the folder) with `hash_key` set to the job's hash, atomically.
void write_job_record(const JobFolder& f, nlohmann::json record);

// True when <f.dir>/<file> is a JSON object with `key` equal to the job's hash (e.g. a
// summary.json written when the job finished).
bool file_has_hash(const JobFolder& f, const std::string& file, const std::string& key = "config_hash");

}  // namespace closerlook
