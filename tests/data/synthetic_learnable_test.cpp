// Learnability of the synthetic dataset through the real loader (with augmentation): a tiny
// CNN's training loss must clearly drop within a few dozen SGD steps.
#include <gtest/gtest.h>

#include "data/load.h"

using namespace closerlook;

TEST(Synthetic, TinyCnnLossDropsWithinFortySteps) {
  at::set_num_threads(1);
  torch::manual_seed(0);
  DataSpec spec;
  spec.dataset = "synthetic";
  spec.synthetic_train = 512;
  spec.synthetic_test = 0;
  spec.synthetic_size = 16;
  DataSplit s = load_data(spec);
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3).padding(1)), torch::nn::ReLU(),
                            torch::nn::MaxPool2d(4), torch::nn::Flatten(), torch::nn::Linear(8 * 4 * 4, 10));
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  BatchLoader loader(s.train, 32, true, true, augment_for(spec), 1);
  std::vector<double> losses;
  for (int64_t step = 0; step < 40; ++step) {
    const int64_t per_epoch = loader.num_batches();
    loader.set_epoch(step / per_epoch);
    Batch b = loader.batch(step % per_epoch);
    auto loss = torch::nn::functional::cross_entropy(net->forward(b.x), b.y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    losses.push_back(loss.item<double>());
  }
  const double first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[37] + losses[38] + losses[39]) / 3;
  EXPECT_NEAR(first, std::log(10.0), 0.5);  // starts near chance
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}
