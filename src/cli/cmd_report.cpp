// closerlook report RUN_DIR [--out report.html] [--plotly FILE]: the offline HTML report of a run
// folder's figures and claims (docs/report.md).
#include <cstdio>

#include "core/resources.h"
#include "cli/commands.h"
#include "report/html_report.h"

namespace closerlook {
namespace {

struct ReportArgs {
  std::string run_dir, out, plotly, title;
  bool quiet = false;
};

const CommandRegistrar reg(80, [](CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report", "Write one self-contained report.html (figures, claims) for a run folder");
  cmd->add_option("run_dir", args->run_dir, "Run folder with figures/*.json and summary.json")->required();
  cmd->add_option("--out,-o", args->out, "Output file (default: RUN_DIR/report.html)");
  cmd->add_option("--plotly", args->plotly,
                  "plotly.min.js to inline (default: $CLOSERLOOK_PLOTLY, else the copy scripts/setup installs, "
                  "report/assets/plotly.min.js)");
  cmd->add_option("--title", args->title, "Page title (default: 'closerlook report: <run folder name>')");
  cmd->add_flag("--quiet,-q", args->quiet, "Print nothing on success");
  cmd->callback([args] {
    ReportOptions opts;
    opts.run_dir = args->run_dir;
    opts.out_path = args->out;
    opts.title = args->title;
    opts.plotly_path = locate_plotly(args->plotly, resource_root());
    ReportResult r = write_report(opts);
    if (!args->quiet)
      std::printf("report: %s (%.2f MB; %d figures, %d plots, %d claims)\n", r.path.c_str(), r.bytes / 1048576.0,
                  r.figures, r.plots, r.claims);
  });
});

}  // namespace
}  // namespace closerlook
