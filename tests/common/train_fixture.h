// The training tests' common set-up (tests/train/trainer_test.cpp, curvature_train_test.cpp):
// 40 synthetic 8x8 training images in batches of 8 (5 iterations per epoch), 24 test images, and
// a TrainSpec of 2 epochs of SGD with momentum and weight decay; run() trains a network into a
// run folder through train_network. Tests adjust `spec` before run().
#pragma once
#include <string>
#include <utility>

#include "tiny_net.h"
#include "train/trainer.h"

namespace closerlook::testing {

struct TrainFixture {
  Dataset train = synthetic_dataset(40, 1), test = synthetic_dataset(24, 2);
  TinyBatches batches{train, 8, 11};  // 5 iterations per epoch
  TrainSpec spec;
  TrainFixture() {
    spec.epochs = 2;
    spec.batch_size = 8;
    spec.lr = 0.05;
    spec.momentum = 0.9;
    spec.weight_decay = 1e-3;
    spec.eval_batch = 16;
  }
  TrainFixture(const TrainFixture&) = delete;  // `batches` refers to `train`
  TrainSummary run(Network& net, const std::string& dir, Network* teacher = nullptr, RunOptions opts = {}) {
    TrainInputs in;
    in.net = &net;
    in.teacher = teacher;
    in.batches = &batches;
    in.train_eval = &train;
    in.test = &test;
    in.spec = spec;
    in.seed = 5;
    in.config_hash = "test";
    opts.quiet = true;
    return train_network(in, dir, opts);
  }
  TrainSummary run(Network& net, const std::string& dir, RunOptions opts) { return run(net, dir, nullptr, std::move(opts)); }
};

}  // namespace closerlook::testing
