// Linear assignment (the Hungarian problem) on a dense float64 cost matrix: the shortest
// augmenting path algorithm of Jonker & Volgenant in the variant of Crouse (2016), as
// scipy.optimize.linear_sum_assignment implements it. Used by the permutation alignment of two
// networks (surface/align.h). O(n^2 m) for an n x m matrix.
#pragma once
#include <cstdint>
#include <vector>

namespace closerlook {

struct Assignment {
  // Row i is assigned column col_of_row[i]. With n <= m every row is assigned (distinct
  // columns); with n > m every column is assigned and the rows left over get -1.
  std::vector<int64_t> col_of_row;
  double cost = 0;  // sum of the chosen entries (of the cost as given, also when maximising)
};

// `cost` is row-major, rows x cols (either may be the larger; 0 x 0 gives an empty
// assignment). Minimises the sum of the chosen entries, or maximises it with `maximize`.
// Error(BadInput) for a NaN entry, a size mismatch, or entries that allow no finite assignment
// (+inf when minimising, -inf when maximising, in every completion).
Assignment linear_sum_assignment(const std::vector<double>& cost, int64_t rows, int64_t cols, bool maximize = false);

}  // namespace closerlook
