// The one job-folder protocol (core/job_folder.h): fresh, resumable, done; another config's
// folder and a foreign non-empty folder are refused with the folder and both hashes named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/job_folder.h"
#include "core/json_io.h"

namespace fs = std::filesystem;
using namespace closerlook;

namespace {
std::string fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("cl_jobfolder_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}
std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(JobFolder, FreshResumableDone) {
  const JobFolder f{fresh_dir("states"), "abc123", "a run"};
  EXPECT_EQ(open_job_folder(f), FolderState::Fresh);  // absent
  fs::create_directories(f.dir);
  EXPECT_EQ(open_job_folder(f), FolderState::Fresh);  // empty
  write_job_record(f, {{"config", {{"x", 1}}}});
  const auto rec = read_json(f.record_path());
  EXPECT_EQ(rec["config_hash"], "abc123");
  EXPECT_EQ(rec["config"]["x"], 1);
  EXPECT_EQ(open_job_folder(f), FolderState::Resumable);
  EXPECT_FALSE(file_has_hash(f, "summary.json"));
  write_json(f.dir + "/summary.json", {{"config_hash", "abc123"}, {"status", "completed"}});
  EXPECT_TRUE(file_has_hash(f, "summary.json"));
  EXPECT_EQ(open_job_folder(f, [&] { return file_has_hash(f, "summary.json"); }), FolderState::Done);
  write_json(f.dir + "/summary.json", {{"config_hash", "old"}, {"status", "completed"}});
  EXPECT_EQ(open_job_folder(f, [&] { return file_has_hash(f, "summary.json"); }), FolderState::Resumable);
  fs::remove_all(f.dir);
}

TEST(JobFolder, AnotherConfigOrAForeignFolderIsRefused) {
  JobFolder f{fresh_dir("refuse"), "new-hash", "a curve"};
  JobFolder other = f;
  other.hash = "old-hash";
  write_job_record(other, {});
  const std::string m = message_of([&] { open_job_folder(f); });
  EXPECT_NE(m.find(f.dir), std::string::npos) << m;
  EXPECT_NE(m.find("a curve of another config"), std::string::npos) << m;
  EXPECT_NE(m.find("old-hash"), std::string::npos) << m;
  EXPECT_NE(m.find("new-hash"), std::string::npos) << m;
  fs::remove_all(f.dir);
  // A non-empty folder without the record is not ours...
  fs::create_directories(f.dir);
  std::ofstream(f.dir + "/notes.txt") << "mine";
  EXPECT_NE(message_of([&] { open_job_folder(f); }).find("not a closerlook job folder"), std::string::npos);
  // ...unless the job may write into an existing folder (planes), with its own record name.
  f.foreign_files_ok = true;
  f.record = "plane-setup.json";
  f.hash_key = "setup_hash";
  EXPECT_EQ(open_job_folder(f), FolderState::Fresh);
  write_job_record(f, {{"grid", 3}});
  EXPECT_EQ(read_json(f.dir + "/plane-setup.json")["setup_hash"], "new-hash");
  EXPECT_EQ(open_job_folder(f), FolderState::Resumable);
  EXPECT_TRUE(fs::exists(f.dir + "/notes.txt"));  // nothing of the user's is touched
  fs::remove_all(f.dir);
}
