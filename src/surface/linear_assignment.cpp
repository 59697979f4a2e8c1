#include "surface/linear_assignment.h"

#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace closerlook {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// One shortest augmenting path from free row `i` over the reduced costs (Crouse 2016, alg. 3).
// Returns the sink column (a free column) or -1 when none is reachable at finite cost.
int64_t augmenting_path(int64_t nc, const std::vector<double>& cost, const std::vector<double>& u,
                        const std::vector<double>& v, std::vector<int64_t>& path, const std::vector<int64_t>& row4col,
                        std::vector<double>& shortest, int64_t i, std::vector<char>& sr, std::vector<char>& sc,
                        std::vector<int64_t>& remaining, double& min_val) {
  min_val = 0;
  int64_t num_remaining = nc;
  for (int64_t it = 0; it < nc; ++it) remaining[it] = nc - it - 1;  // scanned from the back
  std::fill(sr.begin(), sr.end(), 0);
  std::fill(sc.begin(), sc.end(), 0);
  std::fill(shortest.begin(), shortest.end(), kInf);
  int64_t sink = -1;
  while (sink == -1) {
    int64_t index = -1;
    double lowest = kInf;
    sr[i] = 1;
    for (int64_t it = 0; it < num_remaining; ++it) {
      const int64_t j = remaining[it];
      const double r = min_val + cost[i * nc + j] - u[i] - v[j];
      if (r < shortest[j]) {
        path[j] = i;
        shortest[j] = r;
      }
      // Ties: prefer a free column (ends the search sooner).
      if (shortest[j] < lowest || (shortest[j] == lowest && row4col[j] == -1)) {
        lowest = shortest[j];
        index = it;
      }
    }
    min_val = lowest;
    if (min_val == kInf) return -1;
    const int64_t j = remaining[index];
    if (row4col[j] == -1)
      sink = j;
    else
      i = row4col[j];
    sc[j] = 1;
    remaining[index] = remaining[--num_remaining];
  }
  return sink;
}

}  // namespace

Assignment linear_sum_assignment(const std::vector<double>& cost_in, int64_t rows, int64_t cols, bool maximize) {
  CL_CHECK_INPUT(rows >= 0 && cols >= 0 && static_cast<int64_t>(cost_in.size()) == rows * cols,
                 "linear_sum_assignment: " + std::to_string(cost_in.size()) + " entries for a " +
                     std::to_string(rows) + " x " + std::to_string(cols) + " matrix");
  Assignment out;
  out.col_of_row.assign(rows, -1);
  if (rows == 0 || cols == 0) return out;
  // Work on nr <= nc (transpose otherwise), minimising.
  const bool transpose = rows > cols;
  const int64_t nr = transpose ? cols : rows, nc = transpose ? rows : cols;
  std::vector<double> cost(nr * nc);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double x = cost_in[r * cols + c];
      CL_CHECK_INPUT(!std::isnan(x), "linear_sum_assignment: NaN cost at (" + std::to_string(r) + ", " +
                                         std::to_string(c) + ")");
      const double y = maximize ? -x : x;
      CL_CHECK_INPUT(y != -kInf, "linear_sum_assignment: an entry is " + std::string(maximize ? "+inf when maximising" : "-inf when minimising"));
      if (transpose)
        cost[c * nc + r] = y;
      else
        cost[r * nc + c] = y;
    }

  std::vector<double> u(nr, 0), v(nc, 0), shortest(nc);
  std::vector<int64_t> path(nc, -1), col4row(nr, -1), row4col(nc, -1), remaining(nc);
  std::vector<char> sr(nr), sc(nc);
  for (int64_t cur = 0; cur < nr; ++cur) {
    double min_val = 0;
    const int64_t sink = augmenting_path(nc, cost, u, v, path, row4col, shortest, cur, sr, sc, remaining, min_val);
    CL_CHECK_INPUT(sink >= 0, "linear_sum_assignment: no finite-cost assignment exists");
    // Dual update.
    u[cur] += min_val;
    for (int64_t i = 0; i < nr; ++i)
      if (sr[i] && i != cur) u[i] += min_val - shortest[col4row[i]];
    for (int64_t j = 0; j < nc; ++j)
      if (sc[j]) v[j] -= min_val - shortest[j];
    // Augment along the path back to `cur`.
    int64_t j = sink;
    while (true) {
      const int64_t i = path[j];
      row4col[j] = i;
      std::swap(col4row[i], j);
      if (i == cur) break;
    }
  }
  if (transpose) {
    for (int64_t j = 0; j < nr; ++j) out.col_of_row[col4row[j]] = j;  // col4row: "row" j of the transpose = column j
  } else {
    out.col_of_row = col4row;
  }
  for (int64_t r = 0; r < rows; ++r)
    if (out.col_of_row[r] >= 0) out.cost += cost_in[r * cols + out.col_of_row[r]];
  return out;
}

}  // namespace closerlook
