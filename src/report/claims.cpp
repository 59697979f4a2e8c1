#include "report/claims.h"

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_io.h"

namespace closerlook {

using json = nlohmann::json;

namespace {

void validate_claim(const json& c, const std::string& where) {
  auto fail = [&](const std::string& field, const std::string& msg) { throw_bad_input(where + ": field '" + field + "': " + msg); };
  if (!c.is_object()) fail("", "a claim must be an object {study, claim, verdict, numbers, detail}");
  for (const char* k : {"study", "claim", "verdict"}) {
    if (!c.contains(k) || !c[k].is_string() || c[k].get<std::string>().empty()) fail(k, "must be a non-empty string");
  }
  std::string v = c["verdict"];
  if (v != "held" && v != "not held" && v != "inconclusive")
    fail("verdict", "'" + v + "' is not one of held | not held | inconclusive");
  if (c.contains("numbers")) {
    if (!c["numbers"].is_object()) fail("numbers", "must be an object name -> number");
    for (const auto& [k, val] : c["numbers"].items())
      if (val.is_object() || val.is_array()) fail("numbers." + k, "must be a number, string, bool or null");
  }
  if (c.contains("detail") && !c["detail"].is_string()) fail("detail", "must be a string");
  // estimate / control: {effect, interval [lo, hi], null} numbers or nulls (control: + verdict).
  for (const char* part : {"estimate", "control"}) {
    if (!c.contains(part) || c[part].is_null()) continue;
    const json& e = c[part];
    const std::string f = part;
    if (!e.is_object()) fail(f, "must be an object {effect, interval, null, ...}");
    for (const char* k : {"effect", "null"})
      if (e.contains(k) && !e[k].is_number() && !e[k].is_null()) fail(f + "." + k, "must be a number or null");
    if (e.contains("interval")) {
      const json& iv = e["interval"];
      if (!iv.is_array() || iv.size() != 2) fail(f + ".interval", "must be [lo, hi]");
      for (const auto& b : iv)
        if (!b.is_number() && !b.is_null()) fail(f + ".interval", "bounds must be numbers or null");
    }
    if (e.contains("side") && e["side"] != "greater" && e["side"] != "less")
      fail(f + ".side", "must be \"greater\" or \"less\"");
    if (f == "control") {
      const std::string v = e.value("verdict", "");
      if (v != "held" && v != "not held" && v != "inconclusive")
        fail("control.verdict", "'" + v + "' is not one of held | not held | inconclusive");
    }
  }
}

}  // namespace

json claim_json(const Claim& c) {
  json j = {{"study", c.study}, {"claim", c.claim}, {"verdict", c.verdict}, {"numbers", c.numbers}, {"detail", c.detail}};
  if (!c.estimate.is_null()) j["estimate"] = c.estimate;
  if (!c.control.is_null()) j["control"] = c.control;
  validate_claim(j, "claim '" + c.claim + "'");
  return j;
}

void validate_claims(const json& summary, const std::string& where) {
  if (!summary.is_object()) throw_bad_input(where + ": must be a JSON object");
  if (!summary.contains("claims")) return;
  const json& claims = summary["claims"];
  if (!claims.is_array()) throw_bad_input(where + ": field 'claims': must be an array");
  for (size_t i = 0; i < claims.size(); ++i) validate_claim(claims[i], where + ": claims[" + std::to_string(i) + "]");
}

void write_claims(const std::string& run_dir, const std::vector<Claim>& claims) {
  std::string path = (std::filesystem::path(run_dir) / "summary.json").string();
  json summary = file_exists(path) ? read_json(path) : json::object();
  if (!summary.is_object()) throw_bad_input(path + ": must be a JSON object");
  summary["claims"] = json::array();
  for (const auto& c : claims) summary["claims"].push_back(claim_json(c));
  write_json(path, summary);
}

}  // namespace closerlook
