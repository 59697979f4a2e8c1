// Progress reporting for long work: a single updating line with rate and ETA on a terminal,
// and a plain log line every few seconds otherwise (CI logs, files).
#pragma once
#include <chrono>
#include <string>

namespace closerlook {

class Progress {
 public:
  Progress(std::string label, int64_t total, bool quiet = false);
  ~Progress();
  // Advances by `n` units; `info` is appended (e.g. "loss 0.31 acc 88.2%").
  void tick(int64_t n = 1, const std::string& info = "");
  void done(const std::string& info = "");

  static void set_global_quiet(bool q);  // --quiet

 private:
  void print(bool final);
  std::string label_, info_;
  int64_t total_, count_ = 0;
  bool quiet_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_print_;
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12.3s"

}  // namespace closerlook
