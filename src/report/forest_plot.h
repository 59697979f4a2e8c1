// The forest plot of the claims: one row per claim with an interval decision, its effect as a
// dot with its interval as a bar, the null as a dashed line and the claimed side shaded, and the
// negative control's effect and interval (hollow dot) on the same row when the run has one.
// The claims' effects are in different units (nats, error fractions, similarities), so every
// row has its own axis, labelled at the ends; a bound that is unknown or unbounded is drawn as
// an arrow to the row's edge. Static SVG: it renders without JavaScript and prints.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace closerlook {

// `claims`: summary.json "claims" (report/claims.h). "" when no claim has an estimate.
std::string forest_plot_svg(const nlohmann::json& claims);

}  // namespace closerlook
