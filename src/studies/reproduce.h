// `closerlook reproduce`: the four studies of the paper as one resumable plan, ending in
// summary.json (claims with verdicts and numbers) and report.html.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "studies/pipeline.h"
#include "studies/reproduce_config.h"

namespace closerlook {

struct ReproduceOptions {
  std::string out_dir;
  int seeds = 1;                    // K > 1: every study per seed; claims as mean ± std
  bool controls = false;            // add each claim's negative-control arm (StudyContext::controls)
  std::string plotly_path;          // for report.html ("" = skip the report step)
};

// The whole plan: per seed and study the training, curve, plane and similarity steps, each
// study's analysis, then "summary" (claims) and "report" (report.html).
Plan build_reproduce_plan(const ReproduceConfig& cfg, const ReproduceOptions& opts);

// The claims table as printed at the end of a run (from <out>/summary.json).
std::string format_claims_table(const std::string& out_dir);

}  // namespace closerlook
