#include "studies/claim_check.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>

#include "core/error.h"
#include "report/claims.h"

namespace closerlook {

namespace claim_util {
nlohmann::json jnum(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
double jget(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
}
double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }
double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double mean_of(const std::vector<double>& v) {
  return v.empty() ? NAN : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}
bool finite_all(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}
}  // namespace claim_util

using namespace claim_util;

void set_decision(ClaimCheck& c, const Estimate& e, double within_se, double null_value, Side side, double margin,
                  const std::string& gate) {
  Decision d = decide(e, null_value, side, margin);
  if (!gate.empty()) d = {Verdict::Inconclusive, "inconclusive: " + gate};
  else d.reason += " (" + e.method + ")";
  c.verdict = d.verdict;
  c.numbers["decision"] = to_json(e, null_value, side, d);
  c.numbers["decision"]["margin"] = margin;
  c.numbers["decision"]["se"] = jnum(within_se);
  if (!gate.empty()) c.numbers["decision"]["gate"] = gate;
}

void mark_between_runs(ClaimCheck& c, const std::string& compared) {
  if (c.numbers.is_object() && c.numbers.contains("decision") && c.numbers["decision"].is_object())
    c.numbers["decision"]["between_runs"] = compared;
}

ClaimCheck as_control(ClaimCheck c, const std::string& arm) {
  c.control_of = c.id;
  c.id += ".control";
  c.text = "Control (" + arm + "): " + c.text;
  return c;
}

ClaimCheck single_seed_gate(const ClaimCheck& c) {
  if (!c.numbers.is_object() || !c.numbers.contains("decision")) return c;
  const auto& d = c.numbers["decision"];
  if (!d.is_object() || !d.contains("between_runs") || d.contains("gate")) return c;
  ClaimCheck g = c;
  auto& gd = g.numbers["decision"];
  gd["verdict_within_run"] = to_string(c.verdict);
  const std::string reason = "one seed: " + d["between_runs"].get<std::string>() +
                             " are separately trained networks, which differ by training noise that the within-run "
                             "interval does not contain; run --seeds K (K >= 2) to put it in the interval";
  gd["gate"] = reason;
  gd["reason"] = "inconclusive: " + reason + " (within run: " + d.value("reason", "") + ")";
  g.verdict = Verdict::Inconclusive;
  return g;
}

nlohmann::json to_json(const ClaimCheck& c) {
  nlohmann::json j = {{"study", c.study}, {"id", c.id},           {"claim", c.text},
                      {"verdict", to_string(c.verdict)}, {"numbers", c.numbers}, {"detail", c.detail}};
  if (c.numbers.is_object() && c.numbers.contains("decision") && c.numbers["decision"].is_object()) {
    const auto& d = c.numbers["decision"];
    j["effect"] = d.value("effect", nlohmann::json());
    j["interval"] = d.value("interval", nlohmann::json::array({nullptr, nullptr}));
    j["null"] = d.value("null", nlohmann::json());
    j["reason"] = d.value("reason", "");
  } else {
    j["effect"] = nullptr;
    j["interval"] = nlohmann::json::array({nullptr, nullptr});
    j["null"] = nullptr;
    j["reason"] = "not decided by an interval: " + c.detail;
  }
  if (!c.control_of.empty()) j["control_of"] = c.control_of;
  return j;
}

ClaimCheck claim_from_json(const nlohmann::json& j) {
  ClaimCheck c;
  c.study = j.value("study", "");
  c.id = j.value("id", "");
  c.text = j.value("claim", "");
  const std::string v = j.value("verdict", "inconclusive");
  c.verdict = v == "held" ? Verdict::Held : (v == "not held" ? Verdict::NotHeld : Verdict::Inconclusive);
  c.numbers = j.value("numbers", nlohmann::json::object());
  c.detail = j.value("detail", "");
  c.control_of = j.value("control_of", "");
  return c;
}

nlohmann::json attach_controls(const std::vector<ClaimCheck>& checks) {
  nlohmann::json out = nlohmann::json::array();
  std::map<std::string, size_t> index;  // claim id -> position in out
  for (const auto& c : checks)
    if (c.control_of.empty()) {
      index[c.id] = out.size();
      out.push_back(to_json(c));
    }
  for (const auto& c : checks) {
    if (c.control_of.empty()) continue;
    nlohmann::json j = to_json(c);
    auto it = index.find(c.control_of);
    if (it == index.end()) {
      out.push_back(j);
      continue;
    }
    nlohmann::json ctl = {{"id", c.id}, {"claim", c.text}};
    for (const char* k : {"verdict", "effect", "interval", "null", "reason", "numbers", "detail"}) ctl[k] = j[k];
    out[it->second]["control"] = ctl;
  }
  return out;
}

Claim to_report_claim(const nlohmann::json& check) {
  Claim r;
  r.study = check.value("study", "");
  r.claim = check.value("claim", "");
  r.verdict = check.value("verdict", "inconclusive");
  // The report shows flat name -> value rows: nested numbers become "pair/quantity" keys.
  r.numbers = nlohmann::json::object();
  std::function<void(const nlohmann::json&, const std::string&)> flatten = [&](const nlohmann::json& j,
                                                                                const std::string& key) {
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) flatten(it.value(), key.empty() ? it.key() : key + "/" + it.key());
    } else if (j.is_array()) {
      for (size_t i = 0; i < j.size(); ++i) flatten(j[i], key + "/" + std::to_string(i));
    } else if (j.is_number_float() && !std::isfinite(j.get<double>())) {
      r.numbers[key] = nullptr;
    } else {
      r.numbers[key] = j;
    }
  };
  flatten(check.value("numbers", nlohmann::json::object()), "");
  r.numbers["check"] = check.value("id", "");
  r.detail = check.value("detail", "");
  const auto& num = check.value("numbers", nlohmann::json::object());
  if (check.contains("effect") && !check["effect"].is_null()) {
    const std::string side = num.contains("decision") ? num["decision"].value("side", "greater") : "greater";
    r.estimate = {{"effect", check["effect"]}, {"interval", check["interval"]}, {"null", check["null"]},
                  {"side", side},              {"reason", check.value("reason", "")}};
  }
  if (check.contains("control") && check["control"].is_object()) {
    const auto& k = check["control"];
    r.control = {{"id", k.value("id", "")},         {"verdict", k.value("verdict", "inconclusive")},
                 {"effect", k.value("effect", nlohmann::json())},
                 {"interval", k.value("interval", nlohmann::json::array({nullptr, nullptr}))},
                 {"null", k.value("null", nlohmann::json())}, {"reason", k.value("reason", "")}};
  }
  return r;
}

ClaimCheck aggregate_seeds(const std::vector<ClaimCheck>& per_seed) {
  if (per_seed.empty()) throw Error(ExitCode::Internal, "aggregate_seeds: no claims");
  ClaimCheck c = per_seed.front();
  int held = 0, not_held = 0;
  nlohmann::json seeds = nlohmann::json::array();
  for (const auto& s : per_seed) {
    held += s.verdict == Verdict::Held;
    not_held += s.verdict == Verdict::NotHeld;
    seeds.push_back({{"verdict", to_string(s.verdict)}, {"numbers", s.numbers}});
  }
  const int k = static_cast<int>(per_seed.size());
  c.verdict = held == k ? Verdict::Held : (not_held == k ? Verdict::NotHeld : Verdict::Inconclusive);
  // mean ± std of every top-level (or one-level nested) number present in all seeds
  nlohmann::json stats = nlohmann::json::object();
  std::function<void(const nlohmann::json&, const std::string&)> walk = [&](const nlohmann::json& j, const std::string& key) {
    if (j.is_number()) {
      std::vector<double> vals;
      for (const auto& s : per_seed) {
        const nlohmann::json* node = &s.numbers;
        bool ok = true;
        size_t pos = 0;
        std::string k2 = key;
        while (ok && !k2.empty()) {
          pos = k2.find('/');
          std::string part = k2.substr(0, pos);
          if (!node->contains(part)) ok = false;
          else node = &(*node)[part];
          k2 = pos == std::string::npos ? "" : k2.substr(pos + 1);
        }
        if (ok && node->is_number()) vals.push_back(node->get<double>());
      }
      if (static_cast<int>(vals.size()) == k) {
        const double m = mean_of(vals);
        double var = 0;
        for (double v : vals) var += (v - m) * (v - m);
        stats[key] = {{"mean", m}, {"std", k > 1 ? std::sqrt(var / (k - 1)) : 0.0}};
      }
    } else if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) walk(it.value(), key.empty() ? it.key() : key + "/" + it.key());
    }
  };
  walk(per_seed.front().numbers, "");
  c.numbers = {{"seeds", k}, {"held_in", held}, {"mean_std", stats}, {"per_seed", seeds}};
  c.detail = "held for " + std::to_string(held) + " of " + std::to_string(k) + " seeds; " + per_seed.front().detail;
  // The interval rule on the pooled per-seed effects, when every seed has a decision.
  bool decided = true;
  for (const auto& s : per_seed)
    decided = decided && s.numbers.is_object() && s.numbers.contains("decision") && s.numbers["decision"].is_object();
  if (!decided) return c;
  const auto& d0 = per_seed.front().numbers["decision"];
  std::vector<double> effects, ses;
  std::string gate;
  bool se_known = true;
  for (size_t i = 0; i < per_seed.size(); ++i) {
    const auto& d = per_seed[i].numbers["decision"];
    effects.push_back(jget(d, "effect"));
    ses.push_back(jget(d, "se"));
    se_known = se_known && std::isfinite(ses.back());
    if (gate.empty() && d.contains("gate")) gate = d["gate"].get<std::string>() + " (seed " + std::to_string(i) + ")";
  }
  const double level = d0.contains("level") ? jget(d0, "level") : 0.95;
  const Estimate e = seed_estimate(effects, se_known ? ses : std::vector<double>{}, std::isfinite(level) ? level : 0.95);
  const double pooled_se = NAN;  // the pooled interval already contains the within-run error
  set_decision(c, e, pooled_se, jget(d0, "null"), d0.value("side", "greater") == "less" ? Side::Less : Side::Greater,
               std::isfinite(jget(d0, "margin")) ? jget(d0, "margin") : 0.0, gate);
  c.detail = "interval over " + std::to_string(k) + " seeds (" + std::to_string(held) + " held alone); " +
             per_seed.front().detail;
  return c;
}

}  // namespace closerlook
