// Similarity maps: every layer of one set of activations against every layer of another
// (layer x layer, e.g. teacher vs student), or each layer of one run across its checkpoints
// (layer x checkpoint). Each representation's expensive part is computed once for all the pairs
// it takes part in; linear and debiased CKA stream over row batches (memory independent of N).
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/network.h"  // NamedTensor
#include "similarity/measure.h"

namespace closerlook {

struct SimilarityMap {
  Measure measure = Measure::CkaLinear;
  Compat compat = Compat::Clean;
  std::string kind;                       // "layer-by-layer" or "layer-by-checkpoint"
  std::string row_label, col_label;       // what rows / columns are (e.g. "a", "b" or "layer", "checkpoint")
  std::vector<std::string> row_names, col_names;
  torch::Tensor values;                   // rows x cols, float64, CPU
  std::vector<std::string> warnings;      // "[row, col] message", de-duplicated
  nlohmann::json settings = nlohmann::json::object();  // options used, and anything the caller adds

  double at(int64_t r, int64_t c) const { return values[r][c].item<double>(); }
  nlohmann::json to_json() const;  // names, values (nested lists), warnings, settings
};

// Writes <prefix>.npy (float64 matrix), <prefix>.csv (labelled) and <prefix>.json, atomically.
void write_similarity_map(const SimilarityMap& map, const std::string& prefix);
SimilarityMap read_similarity_map_json(const std::string& path);

// Rows: layers of `a`; columns: layers of `b`. All tensors are (examples x features) with the
// same examples. If `a` and `b` hold the same tensors (same storage), each representation is
// prepared once and symmetric measures fill the mirrored cell instead of recomputing it.
std::vector<SimilarityMap> layer_by_layer(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b,
                                          const std::vector<Measure>& measures, const SimilarityOptions& opts = {});
SimilarityMap layer_by_layer(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b, Measure measure,
                             const SimilarityOptions& opts = {});

struct CheckpointActivations {
  std::string name;                 // e.g. "init", "epoch-3", "final"
  std::vector<NamedTensor> layers;  // same layer names in every checkpoint
};

// Which checkpoint each checkpoint is compared with: the next one, or a fixed one.
struct CheckpointReference {
  enum Kind { Next, Fixed } kind = Next;
  int64_t index = 0;  // Fixed: 0-based; negative counts from the end (-1 = last)
};
// "next", "first", "last" or an index ("0", "-1"); Error(BadInput) otherwise.
CheckpointReference parse_checkpoint_reference(const std::string& s);

// Rows: layers; columns: "c" (Fixed: c vs the reference) or "c->c+1" (Next: K-1 columns).
std::vector<SimilarityMap> layer_by_checkpoint(const std::vector<CheckpointActivations>& checkpoints,
                                               const std::vector<Measure>& measures,
                                               const CheckpointReference& reference,
                                               const SimilarityOptions& opts = {});

}  // namespace closerlook
