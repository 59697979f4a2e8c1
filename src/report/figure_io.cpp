// Figure files in a run folder: RUN_DIR/figures/<id>.json (+ <id>.csv).
#include <algorithm>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"
#include "report/figure_spec.h"

namespace closerlook {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string write_figure(const std::string& run_dir, const json& fig) {
  std::string id = fig.is_object() ? fig.value("id", "") : "";
  validate_figure(fig, "figure '" + id + "'");
  std::string dir = (fs::path(run_dir) / "figures").string();
  make_dirs(dir);
  std::string json_path = (fs::path(dir) / (id + ".json")).string();
  // Compact: matrices pretty-printed one number per line would be several times larger.
  write_file_atomic(json_path, fig.dump() + "\n");
  write_file_atomic((fs::path(dir) / (id + ".csv")).string(), figure_csv(fig));
  return json_path;
}

std::vector<json> read_figures(const std::string& run_dir) {
  fs::path dir = fs::path(run_dir) / "figures";
  std::vector<json> figs;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return figs;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  if (ec) throw_io(dir.string() + ": cannot list: " + ec.message());
  for (const auto& f : files) {
    json fig = read_json(f.string());
    validate_figure(fig, f.string());
    if (fig["id"] != f.stem().string())
      throw_bad_input(f.string() + ": field 'id': '" + fig["id"].get<std::string>() + "' does not match the file name '" +
                      f.stem().string() + "'");
    figs.push_back(std::move(fig));
  }
  std::sort(figs.begin(), figs.end(), [](const json& a, const json& b) {
    auto key = [](const json& f) { return std::make_tuple(f["study"].get<std::string>(), f.value("order", 0), f["id"].get<std::string>()); };
    return key(a) < key(b);
  });
  return figs;
}

}  // namespace closerlook
