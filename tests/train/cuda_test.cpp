// The training engine on a CUDA device against the CPU: device-resident batches and
// augmentation (bit-identical), evaluation and a short real training run (within float
// tolerance). Without a usable CUDA device every TrainCuda test is skipped and says why (and
// whether this binary was built with CL_WITH_CUDA). Select them with --gtest_filter='*Cuda*'
// or `ctest -R Cuda`. DevicePaths tests run everywhere: they check the device code paths on CPU
// tensors.
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "core/json_io.h"
#include "data/augment.h"
#include "data/loader.h"
#include "core/flat.h"
#include "../common/cuda.h"
#include "../common/tiny_net.h"
#include "train/evaluate.h"
#include "train/run_dir.h"
#include "train/run_training.h"
#include "train/train_config.h"

using namespace closerlook;
using namespace closerlook::testing;
namespace fs = std::filesystem;

namespace {


// 3-channel 8x8 images with a per-channel normalisation, so the crop's fill value is not zero.
Dataset colour_dataset(int64_t n, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  Dataset d;
  d.name = "colour";
  d.images = torch::randn({n, 3, 8, 8}, gen, torch::kFloat32).contiguous();
  d.labels = torch::randint(0, 5, {n}, gen, torch::kInt64);
  d.num_classes = 5;
  d.mean = {0.4, 0.5, 0.6};
  d.std = {0.2, 0.25, 0.3};
  return d;
}

double rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  const auto a64 = a.detach().cpu().to(torch::kFloat64), b64 = b.detach().cpu().to(torch::kFloat64);
  return ((a64 - b64).norm() / a64.norm().clamp_min(1e-30)).item<double>();
}

// A small VGG with BN on synthetic 32x32 data, without dropout (CPU and CUDA draw different
// masks), with crop + flip augmentation: 8 iterations per epoch.
nlohmann::json run_tree(int64_t epochs) {
  auto t = nlohmann::json::parse(R"({
    "seed": 3,
    "data": {"dataset": "synthetic", "synthetic_train": 256, "synthetic_test": 64, "synthetic_size": 32,
             "synthetic_classes": 4, "synthetic_channels": 3, "augment": true},
    "model": {"family": "vgg", "layout": "vgg11", "width": 0.125, "batchnorm": true, "fc_hidden": [16],
              "dropout": 0.0},
    "train": {"batch_size": 32, "lr": 0.05, "schedule": "cosine", "eval_train_subset": 128}
  })");
  t["train"]["epochs"] = epochs;
  return t;
}

}  // namespace

// The tensor form of the augmentation gather (the device path) on CPU tensors gives exactly the
// CPU fast path's pixels, for every crop offset and flip, with a non-zero fill.
TEST(DevicePaths, TensorAugmentGatherMatchesCpuFastPath) {
  const Dataset ds = colour_dataset(20, 4);
  const auto fill = normalised_black(ds.mean, ds.std, 3);
  const int64_t pad = 3;
  std::vector<ExampleAugment> ops;
  for (int64_t j = 0; j < 14; ++j) ops.push_back({(j * 5) % (2 * pad + 1), (j * 3 + 1) % (2 * pad + 1), j % 2 == 1});
  auto idx = torch::tensor(std::vector<int64_t>{19, 0, 3, 3, 7, 12, 1, 18, 5, 5, 9, 2, 11, 16}, torch::kInt64);
  const auto fast = gather_augment(ds.images, idx, ops, pad, fill);
  const auto tensor = gather_augment_tensor(ds.images, idx, augment_ops_tensor(ops), pad,
                                            torch::tensor(fill, torch::kFloat64).to(torch::kFloat32));
  EXPECT_TRUE(torch::equal(fast, tensor));
  // pad 0 and no flips: a plain gather.
  const auto plain = gather_augment_tensor(ds.images, idx, torch::zeros({14, 3}, torch::kInt64), 0,
                                           torch::zeros({3}, torch::kFloat32));
  EXPECT_TRUE(torch::equal(plain, ds.images.index_select(0, idx)));
}

// dataset_on shares the tensors when nothing changes and cuts a prefix otherwise.
TEST(DevicePaths, DatasetOnSharesOrCuts) {
  const Dataset ds = colour_dataset(10, 1);
  const Dataset same = dataset_on(ds, torch::kCPU);
  EXPECT_TRUE(same.images.is_same(ds.images));
  const Dataset cut = dataset_on(ds, torch::kCPU, 4);
  EXPECT_EQ(cut.size(), 4);
  EXPECT_TRUE(torch::equal(cut.images, ds.images.narrow(0, 0, 4)));
  EXPECT_EQ(cut.mean, ds.mean);
}

// evaluate() with device-side sums gives exactly the per-batch host sums it replaced.
TEST(DevicePaths, EvaluateEqualsHostSums) {
  TinyNet net(3, 3, 0.0);
  const Dataset test = synthetic_dataset(77, 2);
  const EvalResult r = evaluate(net, test, torch::kCPU, 16, 70);
  c10::InferenceMode guard;
  net.train(false);
  double loss = 0;
  int64_t correct = 0;
  for (int64_t s = 0; s < 70; s += 16) {
    const int64_t b = std::min<int64_t>(16, 70 - s);
    auto logits = net.forward(test.images.narrow(0, s, b));
    auto y = test.labels.narrow(0, s, b);
    loss += torch::nn::functional::cross_entropy(logits, y,
                                                 torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                .item<double>();
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  }
  EXPECT_EQ(r.n, 70);
  EXPECT_EQ(r.loss, loss / 70.0);
  EXPECT_EQ(r.accuracy, double(correct) / 70.0);
}

// Batches of a dataset kept on the GPU are the CPU loader's batches, bit for bit: shuffled,
// cropped, flipped, with a short last batch, and sliced for data-parallel ranks.
TEST(TrainCuda, DeviceLoaderBatchesAreBitIdenticalToCpu) {
  CL_REQUIRE_CUDA();
  const Dataset ds = colour_dataset(50, 2);
  const Dataset dev = dataset_on(ds, torch::kCUDA);
  ASSERT_TRUE(dev.images.is_cuda());
  for (const AugmentSpec aug : {AugmentSpec{true, 2, true}, AugmentSpec{false, 4, true}, AugmentSpec{}}) {
    for (int world : {1, 3}) {
      for (int rank = 0; rank < world; ++rank) {
        BatchLoader cpu(ds, 16, true, false, aug, 7), gpu(dev, 16, true, false, aug, 7);
        cpu.set_shard(rank, world);
        gpu.set_shard(rank, world);
        for (int64_t epoch : {0, 3}) {
          cpu.set_epoch(epoch);
          gpu.set_epoch(epoch);
          ASSERT_EQ(cpu.num_batches(), gpu.num_batches());
          for (int64_t i = 0; i < cpu.num_batches(); ++i) {
            Batch a = cpu.batch(i), b = gpu.batch(i);
            ASSERT_TRUE(b.x.is_cuda() && b.y.is_cuda());
            EXPECT_TRUE(torch::equal(a.x, b.x.cpu())) << "epoch " << epoch << " batch " << i << " rank " << rank;
            EXPECT_TRUE(torch::equal(a.y, b.y.cpu()));
            EXPECT_TRUE(torch::equal(cpu.indices(i), gpu.indices(i)));
          }
        }
      }
    }
  }
}

// evaluate() on the GPU (data on the host or on the device) against the CPU.
TEST(TrainCuda, EvaluateMatchesCpu) {
  CL_REQUIRE_CUDA();
  StrictCuda strict;
  TinyNet net(3, 3, 0.0);
  const Dataset test = synthetic_dataset(200, 2);
  const EvalResult c = evaluate(net, test, torch::kCPU, 64);
  net.to(torch::kCUDA);
  const EvalResult g = evaluate(net, test, torch::kCUDA, 64);
  const EvalResult gd = evaluate(net, dataset_on(test, torch::kCUDA), torch::kCUDA, 64, 150);
  net.to(torch::kCPU);
  const EvalResult cd = evaluate(net, test, torch::kCPU, 64, 150);
  EXPECT_EQ(g.n, c.n);
  EXPECT_NEAR(g.loss, c.loss, 1e-5 * std::max(1.0, c.loss));
  EXPECT_NEAR(g.accuracy, c.accuracy, 1.0 / 200 + 1e-12);  // at most one arg-max tie may flip
  EXPECT_EQ(gd.n, 150);
  EXPECT_NEAR(gd.loss, cd.loss, 1e-5 * std::max(1.0, cd.loss));
  EXPECT_NEAR(gd.accuracy, cd.accuracy, 1.0 / 150 + 1e-12);
}

// A two-epoch run_training on CUDA (dataset on the device, device augmentation, windowed loss
// reads) against the same run on the CPU.
TEST(TrainCuda, ShortTrainingRunMatchesCpu) {
  CL_REQUIRE_CUDA();
  StrictCuda strict;
  const std::string dc = fresh_dir("cuda_cpu"), dg = fresh_dir("cuda_gpu");
  const TrainConfig cfg = read_train_config(run_tree(2), "cuda_test");
  RunOptions oc;
  oc.quiet = true;
  RunOptions og = oc;
  og.device = torch::kCUDA;
  const TrainSummary sc = run_training(cfg, dc, oc);
  const TrainSummary sg = run_training(cfg, dg, og);
  ASSERT_EQ(sc.status, RunStatus::Completed);
  ASSERT_EQ(sg.status, RunStatus::Completed);
  EXPECT_EQ(sg.iter, sc.iter);
  EXPECT_NEAR(sg.train.loss, sc.train.loss, 2e-3 * std::max(1.0, sc.train.loss));
  EXPECT_NEAR(sg.test.loss, sc.test.loss, 2e-3 * std::max(1.0, sc.test.loss));
  EXPECT_NEAR(sg.train.accuracy, sc.train.accuracy, 0.03);
  EXPECT_NEAR(sg.test.accuracy, sc.test.accuracy, 0.05);
  auto wc = load_network(checkpoint_path(dc, "final"), torch::kCPU);
  auto wg = load_network(checkpoint_path(dg, "final"), torch::kCPU);
  const double d = rel_diff(flatten_tensors(wc->parameters()), flatten_tensors(wg->parameters()));
  EXPECT_LT(d, 1e-3) << "final weights differ by " << d << " (relative L2)";
  // The GPU run's metrics carry a throughput measured up to the window syncs.
  const auto rows = read_jsonl(dg + "/metrics.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_GT(rows.back().value("images_per_s", 0.0), 0.0);
  RecordProperty("cpu_test_loss", std::to_string(sc.test.loss));
  RecordProperty("cuda_test_loss", std::to_string(sg.test.loss));
  RecordProperty("weights_rel_diff", std::to_string(d));
  fs::remove_all(dc);
  fs::remove_all(dg);
}
