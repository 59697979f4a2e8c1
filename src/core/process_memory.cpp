#include "core/process_memory.h"

#include <unistd.h>

#include <fstream>

namespace closerlook {

double process_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  double pages = 0, resident = 0;
  if (!(in >> pages >> resident)) return 0;
  return resident * double(::sysconf(_SC_PAGESIZE));
}

}  // namespace closerlook
