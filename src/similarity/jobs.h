// File-level entry points of the similarity tools, used by the CLI (cmd_similarity.cpp) and the
// study pipeline (studies/steps.cpp), so that both write the same files (docs/similarity.md):
//   run_similarity_pair   two activation matrices (.npy) -> one SimilarityResult (JSON)
//   run_activations       a checkpoint -> an activation folder (activations.json + one .npy per layer)
//   run_similarity_map    sources -> <out>/<measure>.{npy,csv,json} per measure
// A source is a checkpoint inside a run folder (<run>/checkpoints/<tag>.pt, train/run_dir.h) or
// a folder written by run_activations. Checkpoints are captured on the first N examples of their
// run's [data] split (train/run_data.h), never augmented.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "similarity/activations.h"
#include "similarity/dft_cca.h"
#include "similarity/measure.h"
#include "similarity/similarity_map.h"

namespace closerlook {

// How a checkpoint's activations are captured: capture.examples is the first N of the split
// (0 = all), capture.device the device the network runs on.
struct CaptureSource {
  CaptureOptions capture;
  std::string split = "train";              // "train" | "test" of the run's [data] table
  std::vector<std::string> data_overrides;  // "data.key=value" (data.* keys only)
};

// The first capture.examples examples of the split of the run `ckpt` belongs to (a subset keeps
// the full set's normalisation). Error(BadInput) for a bad split, override or run folder.
Dataset run_examples(const std::string& ckpt, const CaptureSource& source);

// The checkpoint's activations on `data`; meta["source"] = {"checkpoint", "run", "arch"}.
CapturedActivations capture_checkpoint(const std::string& ckpt, const Dataset& data, const CaptureOptions& opts);

// `closerlook similarity A.npy B.npy`: 2-D (examples x features) matrices, or 4-D conv
// activations for dft-cca (always google/svcca semantics). Returns the result's JSON with "a"
// and "b"; also written to `out` when that is given.
struct PairJob {
  std::string a, b, out;
  Measure measure = Measure::CkaLinear;
  SimilarityOptions options;
  bool neuron_major = false;                     // 2-D inputs are neurons x examples (google layout)
  SpatialLayout layout = SpatialLayout::Nchw;    // dft-cca only
};
nlohmann::json run_similarity_pair(const PairJob& job);

// `closerlook activations CKPT --out DIR`: captures every probe point (or source.capture.probes)
// into out_dir. Returns {"out", "examples", "conv_mode", "layers": [{"name", "rows", "features"}]}.
struct ActivationsJob {
  std::string checkpoint, out_dir;
  CaptureSource source;
};
nlohmann::json run_activations(const ActivationsJob& job);

// `closerlook similarity-map`: layer x layer between two sources (a, b), or layer x checkpoint
// over the sources of one run (checkpoints, columns named by their file/folder names). Every
// checkpoint is captured on the examples of the first checkpoint's run. Writes
// <out_dir>/<measure>.{npy,csv,json} (settings["sources"]: each source's path and metadata) and
// returns {"out", "maps": [{"measure", "files", "rows", "cols", "warnings"}]}.
struct SimilarityMapJob {
  std::string a, b;
  std::vector<std::string> checkpoints;
  CheckpointReference reference;
  std::string out_dir;
  std::vector<Measure> measures = {Measure::CkaLinear};  // 2-D measures only
  SimilarityOptions options;
  CaptureSource source;
};
nlohmann::json run_similarity_map(const SimilarityMapJob& job);

}  // namespace closerlook
