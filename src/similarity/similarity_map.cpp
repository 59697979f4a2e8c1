#include "similarity/similarity_map.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "core/json_io.h"
#include "core/npy.h"
#include "similarity/cca.h"
#include "similarity/representation.h"
#include "similarity/similarity.h"
#include "similarity/streaming_cka.h"

namespace closerlook {
namespace {

// The feature-space route of the CCA/SVCCA maps needs lambda_k >= this * lambda_1 on both sides
// (condition number of the kept directions <= 1e3). Its error against the SVD route grows as
// eps * cond^2: measured 7e-14 at this limit, 5e-12 at 1e-8, 2e-10 at 1e-10 (docs/similarity.md).
constexpr double kFeatureSpaceMinRatio = 1e-6;

// One distinct representation (a tensor may appear on both sides of a map).
struct Source {
  std::string name;
  torch::Tensor tensor;
};

// A cell of a map: which sources it compares.
struct Cell {
  int64_t row, col, x, y;
};

bool same_tensor(const torch::Tensor& a, const torch::Tensor& b) {
  return a.data_ptr() == b.data_ptr() && a.sizes() == b.sizes() && a.strides() == b.strides() &&
         a.scalar_type() == b.scalar_type();
}

int64_t add_source(std::vector<Source>& sources, const std::string& name, const torch::Tensor& t) {
  if (!t.defined()) throw_bad_input(name + ": no activations (undefined tensor)");
  for (size_t i = 0; i < sources.size(); ++i)
    if (same_tensor(sources[i].tensor, t)) return int64_t(i);
  sources.push_back({name, t});
  return int64_t(sources.size()) - 1;
}

void check_examples(const std::vector<Source>& sources) {
  for (const auto& s : sources) {
    if (s.tensor.dim() != 2)
      throw_bad_input(fmt::format("{}: expected a 2-D array (examples x features), got {} dimensions", s.name,
                                  s.tensor.dim()));
    if (s.tensor.size(0) != sources[0].tensor.size(0))
      throw_bad_input(fmt::format("{} has {} examples but {} has {}; every layer must cover the same examples",
                                  s.name, s.tensor.size(0), sources[0].name, sources[0].tensor.size(0)));
  }
}

void add_unique(std::vector<std::string>& out, std::set<std::string>& seen, const std::vector<std::string>& msgs) {
  for (const auto& m : msgs)
    if (seen.insert(m).second) out.push_back(m);
}

nlohmann::json options_json(const SimilarityOptions& o, Measure m) {
  nlohmann::json j;
  j["measure"] = measure_name(m);
  j["compat"] = compat_name(o.compat);
  if (is_cca_family(m)) {
    j["center"] = o.center;
    j["rank_rtol"] = o.rank_rtol;
    if (m == Measure::Svcca) {
      j["svcca_variance"] = o.svcca_variance;
      j["svcca_dims"] = o.svcca_dims;
    }
    if (o.compat == Compat::Google) {
      j["google_epsilon"] = o.google_epsilon;
      j["google_threshold"] = o.google_threshold;
    }
  }
  if (m == Measure::CkaRbf) j["rbf_threshold"] = o.rbf_threshold;
  // Only where it applies and differs from the default, so float64 maps keep their settings.
  if ((m == Measure::CkaLinear || m == Measure::CkaDebiased) && o.precision != Precision::Float64)
    j["precision"] = precision_name(o.precision);
  return j;
}

// Computes every measure over `cells`. Streams linear/debiased CKA; everything else goes through
// cached Representations, one per source, built on first use.
std::vector<SimilarityMap> compute_maps(const std::vector<Source>& sources, const std::vector<Cell>& cells,
                                        int64_t rows, int64_t cols, const std::vector<Measure>& measures,
                                        const SimilarityOptions& opts) {
  validate_options(opts);
  check_examples(sources);
  if (measures.empty()) throw_bad_input("similarity map: no measure requested");
  std::vector<std::unique_ptr<Representation>> reps(sources.size());
  const auto rep_opts = representation_options(opts);
  auto rep = [&](int64_t i) -> const Representation& {
    if (!reps[i]) reps[i] = std::make_unique<Representation>(sources[i].tensor, sources[i].name, rep_opts);
    return *reps[i];
  };
  // Validate every input up front so that a NaN in the last layer fails before any work.
  for (size_t i = 0; i < sources.size(); ++i) rep(int64_t(i));

  std::vector<SimilarityMap> maps;
  for (Measure m : measures) {
    SimilarityMap map;
    map.measure = m;
    map.compat = is_cca_family(m) ? opts.compat : Compat::Clean;
    map.values = torch::full({rows, cols}, std::nan(""), torch::kFloat64);
    map.settings = options_json(opts, m);
    std::set<std::string> seen;
    // Distinct pairs: symmetric measures treat (x, y) and (y, x) as one.
    std::map<std::pair<int64_t, int64_t>, size_t> pair_index;
    std::vector<std::pair<int64_t, int64_t>> pairs;
    std::vector<size_t> cell_pair(cells.size());
    for (size_t c = 0; c < cells.size(); ++c) {
      auto key = std::make_pair(cells[c].x, cells[c].y);
      if (is_symmetric(m) && key.first > key.second) std::swap(key.first, key.second);
      auto it = pair_index.find(key);
      if (it == pair_index.end()) {
        it = pair_index.emplace(key, pairs.size()).first;
        pairs.push_back(key);
      }
      cell_pair[c] = it->second;
    }
    std::vector<double> values(pairs.size());
    const bool streamed = m == Measure::CkaLinear || m == Measure::CkaDebiased;
    if (streamed) {
      std::vector<std::string> names;
      std::vector<int64_t> widths;
      for (const auto& s : sources) {
        names.push_back(s.name);
        widths.push_back(s.tensor.size(1));
      }
      CkaAccumulator acc(names, widths, pairs, opts.precision == Precision::Float32,
                         /*linear_only=*/m == Measure::CkaLinear);
      const int64_t n = sources[0].tensor.size(0);
      for (int64_t start = 0; start < n; start += opts.stream_batch) {
        const int64_t end = std::min(n, start + opts.stream_batch);
        std::vector<torch::Tensor> batch;
        for (const auto& s : sources) batch.push_back(s.tensor.slice(0, start, end));
        acc.add(batch);
      }
      values = m == Measure::CkaLinear ? acc.linear_cka() : acc.debiased_cka();
      for (size_t i = 0; i < sources.size(); ++i) add_unique(map.warnings, seen, rep(int64_t(i)).warnings());
    } else if (opts.compat == Compat::Clean && (m == Measure::Cca || m == Measure::Svcca)) {
      torch::NoGradGuard no_grad;
      // Fast route (docs/similarity.md, "Fast maps"): each representation's Gram whitening W
      // (from the eigen-decomposition of X^T X it already has), then per pair either the
      // feature-space product W_x^T (X^T Y) W_y or, when fewer directions than features are
      // kept, the product of the n x k bases X W (no re-orthonormalisation pass): whichever
      // costs fewer multiply-adds. Representations whose spectrum is too spread for it
      // (lambda_k < kFeatureSpaceMinRatio * lambda_1) take the basis route of cca_similarity.
      std::vector<const Whitening*> wh(sources.size(), nullptr);
      std::vector<char> used(sources.size(), 0);
      for (const auto& [xi, yi] : pairs) used[xi] = used[yi] = 1;
      for (size_t i = 0; i < sources.size(); ++i) {
        if (!used[i]) continue;
        const int64_t k = m == Measure::Svcca ? svcca_directions(rep(int64_t(i)), opts)
                                              : rep(int64_t(i)).active_features();
        wh[i] = rep(int64_t(i)).gram_whitening(k, kFeatureSpaceMinRatio);
      }
      std::vector<size_t> fast, slow;
      for (size_t k = 0; k < pairs.size(); ++k)
        (wh[pairs[k].first] && wh[pairs[k].second] ? fast : slow).push_back(k);
      // Multiply-adds per example: feature space sum p'_x q'_y; bases sum k_x k_y + sum p' k.
      double cost_features = 0.0, cost_bases = 0.0;
      std::set<int64_t> in_fast;
      for (size_t k : fast) {
        const auto [xi, yi] = pairs[k];
        cost_features += double(rep(xi).active_features()) * double(rep(yi).active_features());
        cost_bases += double(wh[xi]->k) * double(wh[yi]->k);
        in_fast.insert(xi);
        in_fast.insert(yi);
      }
      for (int64_t i : in_fast) cost_bases += double(rep(i).active_features()) * double(wh[i]->k);
      const bool feature_space = cost_features <= cost_bases;
      std::map<int64_t, torch::Tensor> factor;  // X_a (feature space) or X_a W (bases), n x dim
      auto factor_of = [&](int64_t i) -> const torch::Tensor& {
        auto it = factor.find(i);
        if (it == factor.end())
          it = factor.emplace(i, feature_space ? rep(i).active_data() : rep(i).active_data().mm(wh[i]->w)).first;
        return it->second;
      };
      auto info = [&](int64_t i) { return SubspaceInfo{wh[i]->k, wh[i]->explained, "gram-eigh", {}}; };
      std::map<int64_t, std::vector<size_t>> by_x;
      for (size_t k : fast) by_x[pairs[k].first].push_back(k);
      std::map<std::vector<int64_t>, torch::Tensor> concatenated;
      for (const auto& [xi, ks] : by_x) {
        std::vector<int64_t> ys;
        for (size_t k : ks) ys.push_back(pairs[k].second);
        auto it = concatenated.find(ys);
        if (it == concatenated.end()) {
          std::vector<torch::Tensor> parts;
          for (int64_t yi : ys) parts.push_back(factor_of(yi));
          it = concatenated.emplace(ys, parts.size() == 1 ? parts[0] : torch::cat(parts, 1)).first;
        }
        auto product = factor_of(xi).t().mm(it->second);  // dim_x x sum(dim_y)
        if (feature_space) product = wh[xi]->w.t().mm(product);
        int64_t off = 0;
        for (size_t k : ks) {
          const int64_t yi = pairs[k].second;
          const int64_t dy = factor_of(yi).size(1);
          auto block = product.slice(1, off, off + dy);
          if (feature_space) block = block.mm(wh[yi]->w);
          off += dy;
          const auto r = cca_similarity_from_product(rep(xi), rep(yi), m, opts, info(xi), info(yi), block);
          values[k] = r.value;
          add_unique(map.warnings, seen, r.warnings);
        }
      }
      for (size_t k : slow) {
        const auto r = cca_similarity(rep(pairs[k].first), rep(pairs[k].second), m, opts);
        values[k] = r.value;
        add_unique(map.warnings, seen, r.warnings);
      }
      map.settings["route"] = fast.empty() ? "bases" : feature_space ? "feature-space" : "gram-bases";
    } else {
      for (size_t k = 0; k < pairs.size(); ++k) {
        const auto r = similarity(rep(pairs[k].first), rep(pairs[k].second), m, opts);
        values[k] = r.value;
        add_unique(map.warnings, seen, r.warnings);
      }
    }
    auto acc = map.values.accessor<double, 2>();
    for (size_t c = 0; c < cells.size(); ++c) acc[cells[c].row][cells[c].col] = values[cell_pair[c]];
    maps.push_back(std::move(map));
  }
  return maps;
}

}  // namespace

nlohmann::json SimilarityMap::to_json() const {
  nlohmann::json j;
  j["measure"] = measure_name(measure);
  j["compat"] = compat_name(compat);
  j["kind"] = kind;
  j["row_label"] = row_label;
  j["col_label"] = col_label;
  j["rows"] = row_names;
  j["cols"] = col_names;
  std::vector<std::vector<double>> v(values.size(0), std::vector<double>(values.size(1)));
  auto acc = values.accessor<double, 2>();
  for (int64_t r = 0; r < values.size(0); ++r)
    for (int64_t c = 0; c < values.size(1); ++c) v[r][c] = acc[r][c];
  j["values"] = v;
  j["warnings"] = warnings;
  j["settings"] = settings;
  return j;
}

void write_similarity_map(const SimilarityMap& map, const std::string& prefix) {
  write_npy(prefix + ".npy", map.values);
  std::vector<std::vector<double>> v(map.values.size(0), std::vector<double>(map.values.size(1)));
  auto acc = map.values.accessor<double, 2>();
  for (int64_t r = 0; r < map.values.size(0); ++r)
    for (int64_t c = 0; c < map.values.size(1); ++c) v[r][c] = acc[r][c];
  write_csv_matrix(prefix + ".csv", v, map.row_names, map.col_names);
  write_json(prefix + ".json", map.to_json());
}

SimilarityMap read_similarity_map_json(const std::string& path) {
  const auto j = read_json(path);
  SimilarityMap m;
  try {
    m.measure = parse_measure(j.at("measure").get<std::string>());
    m.compat = parse_compat(j.at("compat").get<std::string>());
    m.kind = j.at("kind").get<std::string>();
    m.row_label = j.at("row_label").get<std::string>();
    m.col_label = j.at("col_label").get<std::string>();
    m.row_names = j.at("rows").get<std::vector<std::string>>();
    m.col_names = j.at("cols").get<std::vector<std::string>>();
    const auto v = j.at("values").get<std::vector<std::vector<double>>>();
    m.values = torch::zeros({int64_t(v.size()), int64_t(m.col_names.size())}, torch::kFloat64);
    if (v.size() != m.row_names.size()) throw_bad_input(path + ": 'values' has the wrong number of rows");
    for (size_t r = 0; r < v.size(); ++r) {
      if (v[r].size() != m.col_names.size()) throw_bad_input(path + ": 'values' row " + std::to_string(r) + " has the wrong length");
      for (size_t c = 0; c < v[r].size(); ++c) m.values[r][c] = v[r][c];
    }
    m.warnings = j.at("warnings").get<std::vector<std::string>>();
    m.settings = j.value("settings", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw_bad_input(path + ": not a similarity map: " + e.what());
  }
  return m;
}

std::vector<SimilarityMap> layer_by_layer(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b,
                                          const std::vector<Measure>& measures, const SimilarityOptions& opts) {
  if (a.empty() || b.empty()) throw_bad_input("layer_by_layer: both sides need at least one layer");
  std::vector<Source> sources;
  std::vector<int64_t> ia, ib;
  for (const auto& [name, t] : a) ia.push_back(add_source(sources, "a/" + name, t));
  for (const auto& [name, t] : b) ib.push_back(add_source(sources, "b/" + name, t));
  std::vector<Cell> cells;
  for (size_t r = 0; r < a.size(); ++r)
    for (size_t c = 0; c < b.size(); ++c) cells.push_back({int64_t(r), int64_t(c), ia[r], ib[c]});
  auto maps = compute_maps(sources, cells, int64_t(a.size()), int64_t(b.size()), measures, opts);
  for (auto& m : maps) {
    m.kind = "layer-by-layer";
    m.row_label = "a";
    m.col_label = "b";
    for (const auto& l : a) m.row_names.push_back(l.first);
    for (const auto& l : b) m.col_names.push_back(l.first);
  }
  return maps;
}

SimilarityMap layer_by_layer(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b, Measure measure,
                             const SimilarityOptions& opts) {
  return std::move(layer_by_layer(a, b, std::vector<Measure>{measure}, opts).front());
}

CheckpointReference parse_checkpoint_reference(const std::string& s) {
  CheckpointReference r;
  if (s == "next") return r;
  r.kind = CheckpointReference::Fixed;
  if (s == "first") {
    r.index = 0;
  } else if (s == "last") {
    r.index = -1;
  } else {
    try {
      size_t used = 0;
      r.index = std::stoll(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
    } catch (const std::exception&) {
      throw_bad_input("checkpoint reference '" + s + "': expected next, first, last or an index such as 0 or -1");
    }
  }
  return r;
}

std::vector<SimilarityMap> layer_by_checkpoint(const std::vector<CheckpointActivations>& checkpoints,
                                               const std::vector<Measure>& measures,
                                               const CheckpointReference& reference,
                                               const SimilarityOptions& opts) {
  const int64_t k = int64_t(checkpoints.size());
  if (k < 2) throw_bad_input(fmt::format("layer_by_checkpoint needs at least 2 checkpoints, got {}", k));
  const auto& layers0 = checkpoints[0].layers;
  if (layers0.empty()) throw_bad_input(checkpoints[0].name + ": no layers");
  for (const auto& ck : checkpoints) {
    bool same = ck.layers.size() == layers0.size();
    for (size_t l = 0; same && l < layers0.size(); ++l) same = ck.layers[l].first == layers0[l].first;
    if (!same)
      throw_bad_input(fmt::format("checkpoint {} has layers that differ from checkpoint {} (names and order must match)",
                                  ck.name, checkpoints[0].name));
  }
  int64_t ref = reference.index < 0 ? k + reference.index : reference.index;
  if (reference.kind == CheckpointReference::Fixed && (ref < 0 || ref >= k))
    throw_bad_input(fmt::format("checkpoint reference index {} is out of range for {} checkpoints", reference.index, k));

  std::vector<Source> sources;
  std::vector<std::vector<int64_t>> idx(k);  // [checkpoint][layer]
  for (int64_t c = 0; c < k; ++c)
    for (const auto& [name, t] : checkpoints[c].layers)
      idx[c].push_back(add_source(sources, checkpoints[c].name + "/" + name, t));

  std::vector<std::string> col_names;
  std::vector<std::pair<int64_t, int64_t>> col_pairs;  // (checkpoint, compared-with checkpoint)
  if (reference.kind == CheckpointReference::Next) {
    for (int64_t c = 0; c + 1 < k; ++c) {
      col_names.push_back(checkpoints[c].name + "->" + checkpoints[c + 1].name);
      col_pairs.emplace_back(c, c + 1);
    }
  } else {
    for (int64_t c = 0; c < k; ++c) {
      col_names.push_back(checkpoints[c].name);
      col_pairs.emplace_back(c, ref);
    }
  }
  std::vector<Cell> cells;
  const int64_t layers = int64_t(layers0.size());
  for (int64_t l = 0; l < layers; ++l)
    for (size_t c = 0; c < col_pairs.size(); ++c)
      cells.push_back({l, int64_t(c), idx[col_pairs[c].first][l], idx[col_pairs[c].second][l]});
  auto maps = compute_maps(sources, cells, layers, int64_t(col_pairs.size()), measures, opts);
  for (auto& m : maps) {
    m.kind = "layer-by-checkpoint";
    m.row_label = "layer";
    m.col_label = "checkpoint";
    for (const auto& l : layers0) m.row_names.push_back(l.first);
    m.col_names = col_names;
    m.settings["reference"] = reference.kind == CheckpointReference::Next ? std::string("next")
                                                                          : checkpoints[ref].name;
  }
  return maps;
}

}  // namespace closerlook
