// Checks every pairwise measure makes before comparing two representations.
#pragma once
#include <fmt/format.h>

#include "core/error.h"
#include "similarity/representation.h"

namespace closerlook {

// Both sides must describe the same examples (rows) and live on the same device.
inline void check_same_examples(const Representation& x, const Representation& y) {
  if (x.n() != y.n())
    throw_bad_input(fmt::format("{} has {} examples but {} has {}; the rows of both must be the same examples",
                                x.name(), x.n(), y.name(), y.n()));
  if (x.device() != y.device())
    throw_bad_input(fmt::format("{} is on {} but {} is on {}", x.name(), x.device().str(), y.name(),
                                y.device().str()));
}

}  // namespace closerlook
