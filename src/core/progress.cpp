#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace closerlook {

namespace {
bool g_quiet = false;
}

void Progress::set_global_quiet(bool q) { g_quiet = q; }

std::string format_duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof(buf), "%.1fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof(buf), "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof(buf), "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
  return buf;
}

Progress::Progress(std::string label, int64_t total, bool quiet)
    : label_(std::move(label)), total_(total), quiet_(quiet || g_quiet), tty_(::isatty(2)) {
  start_ = last_print_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (!finished_ && tty_ && !quiet_ && count_ > 0) std::fprintf(stderr, "\n");
}

void Progress::tick(int64_t n, const std::string& info) {
  count_ += n;
  if (!info.empty()) info_ = info;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  if ((tty_ && since > 0.25) || (!tty_ && since > 10.0)) {
    last_print_ = now;
    print(false);
  }
}

void Progress::done(const std::string& info) {
  if (!info.empty()) info_ = info;
  finished_ = true;
  print(true);
}

void Progress::print(bool final) {
  if (quiet_) return;
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double frac = total_ > 0 ? double(count_) / double(total_) : 0.0;
  std::string eta = (frac > 0 && !final) ? " ETA " + format_duration(el / frac - el) : "";
  char line[512];
  std::snprintf(line, sizeof(line), "%s %lld/%lld (%3.0f%%) %s%s %s", label_.c_str(), (long long)count_,
                (long long)total_, 100.0 * frac, format_duration(el).c_str(), eta.c_str(), info_.c_str());
  if (tty_) std::fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
  else std::fprintf(stderr, "%s\n", line);
  std::fflush(stderr);
}

}  // namespace closerlook
