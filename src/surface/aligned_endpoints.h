// Aligned endpoints for the path tools (issue 17 part 2): before a line, a curve or a plane is
// built, every checkpoint after the first is permuted to match the first (surface/align.h), so
// the path measures the loss landscape and not the permutation symmetry between the networks.
// One implementation used by `interpolate/connect/plane --align` (cli/cmd_surface.cpp) and by
// the studies' aligned line steps (studies/steps.h run_aligned_line_step).
//
// An aligned checkpoint is written as a run folder, the layout of `closerlook align --out DIR`:
//   DIR/config.json             the source run's config.json plus "aligned": {to, source, method}
//   DIR/checkpoints/aligned.pt  the source checkpoint, permuted (loads like any checkpoint)
//   DIR/permutation.json        per group: size, parameter axes, the permutation
//   DIR/align.json              method, seed, iterations, objective and distance before/after,
//                               the reference and the source (absolute paths), seconds
// A folder whose align.json records the same reference, source and options is reused as is.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "surface/align.h"
#include "surface/jobs.h"

namespace closerlook {

// --align: "none" (the paths as given) | "weights" | "activations" (AlignOptions::method).
struct EndpointAlignment {
  std::string method = "none";
  AlignOptions options;                     // seed, max_iterations, samples, batch_size (method is set from above)
  std::vector<std::string> data_overrides;  // activations: "data.key=value" on the reference's run
  bool enabled() const { return method != "none"; }
};
// Error(BadInput) naming the value unless none | weights | activations.
std::string parse_align_method(const std::string& s);

struct AlignedCheckpoint {
  std::string path;      // DIR/checkpoints/aligned.pt
  nlohmann::json record; // DIR/align.json, plus "permutation" (permutation.json's content)
};
// Permutes `source` to match `reference` (align_networks) and writes DIR (above); reuses DIR
// when it holds this alignment already. Both checkpoints must be of one architecture.
AlignedCheckpoint write_aligned_checkpoint(const std::string& reference, const std::string& source,
                                           const EndpointAlignment& a, const std::string& dir, torch::Device device);

// Every checkpoint after the first aligned to the first, into <dir>/<k> (k = its position in
// `checkpoints`, 1-based after the first: 1, 2, ...). Method none: the checkpoints unchanged and
// a null record. record: {"method", "reference", "options", "aligned": [write_aligned_checkpoint
// records, in order]} -- what the tools store as settings.align.
struct AlignedEndpoints {
  std::vector<std::string> checkpoints;
  nlohmann::json record;
};
AlignedEndpoints align_to_first(const std::vector<std::string>& checkpoints, const EndpointAlignment& a,
                                const std::string& dir, torch::Device device);

// The tools with aligned endpoints. Method none: exactly run_interpolation / run_connect /
// run_plane. Otherwise:
//   interpolate: the aligned checkpoints in <out>/aligned/<k>/; <stem>.json's settings.align = the record.
//   connect:     the aligned end in <out>.aligned/1/ (the curve folder holds only its job's files);
//                the curve's config records the aligned end's path; summary.json gets "align".
//   plane:       three checkpoints W0 W1 W2: W1, W2 and every --project aligned to W0, in
//                <out>/aligned/<k>/ (k = 1, 2, then 3, ... for the projected ones); plane.json
//                gets "align". A --curve or --directions plane: Error(BadInput) (nothing to align).
// Every output folder also gets align.json (the record).
Profile run_aligned_interpolation(InterpolateJob job, const EndpointAlignment& a);
CurveTrainSummary run_aligned_connect(ConnectJob job, const EndpointAlignment& a);
PlaneResult run_aligned_plane(PlaneJob job, const EndpointAlignment& a);

}  // namespace closerlook
