#include "train/run_training.h"

#include <cstdio>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/job_folder.h"
#include "core/error.h"
#include "core/json_io.h"
#include "core/runtime.h"
#include "data/loader.h"
#include "train/run_dir.h"
#include "train/run_status.h"

namespace fs = std::filesystem;

namespace closerlook {

namespace {

class LoaderBatchSource : public BatchSource {
 public:
  explicit LoaderBatchSource(BatchLoader loader) : loader_(std::move(loader)) {}
  void shard(int rank, int world) { loader_.set_shard(rank, world); }
  int64_t num_batches() const override { return loader_.num_batches(); }
  Batch batch(int64_t epoch, int64_t index) override {
    if (epoch != epoch_) {
      loader_.set_epoch(epoch);
      epoch_ = epoch;
    }
    return loader_.batch(index);
  }

 private:
  BatchLoader loader_;
  int64_t epoch_ = -1;
};

}  // namespace

TrainSummary read_train_summary(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "summary.json").string();
  return TrainSummary::from_json(read_json(path), path);
}

TrainSummary run_training(const TrainConfig& cfg, const std::string& out_dir, const RunOptions& opts) {
  const std::string hash = cfg.hash();
  const fs::path dir(out_dir);
  const std::string summary_path = (dir / "summary.json").string();
  DataParallelHooks* dp = opts.data_parallel;
  const bool writer = !dp || dp->rank() == 0;  // data parallel: rank 0 writes, the others only read

  // The folder belongs to this config (core/job_folder.h); a finished run is not redone.
  JobFolder folder{out_dir, hash, "a run"};
  folder.foreign_files_ok = !writer;  // data parallel: rank 0 may have created it already
  const FolderState state = open_job_folder(folder, [&] {
    if (!file_has_hash(folder, "summary.json")) return false;
    const auto parsed = parse_run_status(read_json(summary_path).value("status", std::string()));
    return parsed && is_finished(*parsed);
  });
  if (state == FolderState::Done) {
    TrainSummary s = read_train_summary(out_dir);
    s.already_done = true;
    if (!opts.quiet)
      std::fprintf(stderr, "%s: run already %s for this config (config_hash %s); nothing to do\n", out_dir.c_str(),
                   to_string(s.status), hash.c_str());
    return s;
  }

  DataSplit data = load_data(cfg.data);
  CL_CHECK_INPUT(data.train.size() > 0, cfg.source + ": [data] gives an empty training set");
  ModelSpec spec = cfg.model;
  spec.in_channels = data.train.channels();
  spec.image_size = data.train.height();
  spec.num_classes = data.train.num_classes;

  NetworkPtr net = build_model(spec, cfg.seed);
  if (!cfg.train.init_from.empty()) {
    if (!file_exists(cfg.train.init_from))
      throw_bad_input(cfg.source + ": key 'train.init_from': checkpoint '" + cfg.train.init_from + "' not found");
    net->load(cfg.train.init_from);
  }
  NetworkPtr teacher;
  if (!cfg.train.teacher.empty()) {
    if (!file_exists(cfg.train.teacher))
      throw_bad_input(cfg.source + ": key 'train.teacher': checkpoint '" + cfg.train.teacher + "' not found");
    const ModelSpec tspec = run_model_spec(run_dir_of_checkpoint(cfg.train.teacher));
    if (tspec.num_classes != spec.num_classes)
      throw_bad_input(cfg.source + ": key 'train.teacher': '" + cfg.train.teacher + "' has " +
                      std::to_string(tspec.num_classes) + " classes, the data " + std::to_string(spec.num_classes));
    teacher = load_network(cfg.train.teacher, opts.device);
  }

  if (writer && state == FolderState::Fresh)
    write_job_record(folder, {{"config", cfg.tree},
                              {"source", cfg.source},
                              {"model_spec", model_spec_to_json(spec)},
                              {"runtime", runtime_metadata()}});

  // On a GPU the whole dataset lives there (Fashion-MNIST and CIFAR-10 take well under 1 GB):
  // the loader batches and augments it on the device, evaluation reads it in place.
  if (!opts.device.is_cpu()) {
    data.train = dataset_on(data.train, opts.device);
    data.test = dataset_on(data.test, opts.device);
  }
  LoaderBatchSource batches(BatchLoader(data.train, cfg.train.batch_size, /*shuffle=*/true, cfg.train.drop_last,
                                        augment_for(cfg.data), cfg.seed));
  if (dp && dp->world() > 1) {
    // Every rank must get at least one example of every global batch (an empty slice has no mean loss).
    const int64_t B = cfg.train.batch_size, N = data.train.size(), W = dp->world();
    const int64_t last = cfg.train.drop_last ? B : (N % B == 0 ? B : N % B);
    CL_CHECK_INPUT(std::min(B, last) >= W,
                   cfg.source + ": data parallel over " + std::to_string(W) + " processes needs at least " +
                       std::to_string(W) + " examples in every batch, but " +
                       (B < W ? "train.batch_size is " + std::to_string(B)
                              : "the last batch has " + std::to_string(last) + " (set train.drop_last = true)"));
    batches.shard(dp->rank(), dp->world());
  }
  TrainInputs in;
  in.net = net.get();
  in.teacher = teacher.get();
  in.batches = &batches;
  in.train_eval = &data.train;
  in.test = &data.test;
  in.spec = cfg.train;
  in.seed = cfg.seed;
  in.config_hash = hash;
  return train_network(in, out_dir, opts);
}

}  // namespace closerlook
