// The resident memory of this process, for the plan's calibration and for memory tests.
#pragma once

namespace closerlook {

// Resident set size of this process in bytes (/proc/self/statm); 0 where it cannot be read.
double process_rss_bytes();

}  // namespace closerlook
