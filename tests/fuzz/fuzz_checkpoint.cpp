// Checkpoints: a network's weights file (Network::load) and the resume state file
// (load_train_state). Byte 0 picks which; the rest is the file. A rejected file must leave the
// network's weights untouched.
#include <fstream>
#include <iterator>

#include "fuzz_common.h"
#include "models/factory.h"
#include "train/train_state.h"

namespace {
struct Fixture {
  closerlook::NetworkPtr net;
  torch::Tensor before;
  std::unique_ptr<torch::optim::Optimizer> opt;
  Fixture() {
    closerlook::ModelSpec spec;
    spec.family = "mlp";
    spec.layout = "mlp";
    spec.mlp_hidden = {8};
    spec.batchnorm = true;
    spec.in_channels = 1;
    spec.image_size = 4;
    spec.num_classes = 3;
    net = closerlook::build_model(spec, 1);
    before = flat();
    opt = std::make_unique<torch::optim::SGD>(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
    // CLOSERLOOK_FUZZ_SEED_DIR=DIR: write valid seeds (a weights file, a state file, each
    // behind its selector byte) for the corpus, from this very fixture.
    if (const char* dir = std::getenv("CLOSERLOOK_FUZZ_SEED_DIR")) write_seeds(dir);
  }
  void write_seeds(const std::string& dir) {
    auto prefixed = [&](const std::string& tmp, const std::string& out, char selector) {
      std::ifstream in(tmp, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::ofstream(out, std::ios::binary) << selector << bytes;
      std::remove(tmp.c_str());
    };
    // One optimizer step first, so the state file holds momentum buffers.
    auto x = torch::randn({2, 1, 4, 4});
    auto loss = net->forward(x).sum();
    loss.backward();
    opt->step();
    net->save(dir + "/weights.tmp");
    prefixed(dir + "/weights.tmp", dir + "/weights.seed", '\0');
    closerlook::TrainState st;
    st.iter = 7;
    st.progress = {{"epoch", 1}};
    closerlook::save_train_state(dir + "/state.tmp", *opt, net.get(), st);
    prefixed(dir + "/state.tmp", dir + "/state.seed", '\1');
    before = flat();
  }
  torch::Tensor flat() {
    std::vector<torch::Tensor> v;
    for (auto& [n, t] : net->named_parameters()) v.push_back(t.detach().flatten().clone());
    for (auto& [n, t] : net->named_buffers()) v.push_back(t.detach().flatten().to(torch::kFloat).clone());
    return torch::cat(v);
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  if (size < 1) return 0;
  const std::string path = closerlook::fuzz::scratch_path(".pt");
  closerlook::fuzz::write_file(path, data + 1, size - 1);
  bool ok = false;
  closerlook::fuzz::expect_clean("fuzz_checkpoint", [&] {
    if (data[0] & 1) {
      closerlook::load_train_state(path, *fx.opt, fx.net.get());
    } else {
      fx.net->load(path);
    }
    ok = true;
  });
  if (!ok && !(data[0] & 1) && !torch::equal(fx.flat(), fx.before)) {
    std::fprintf(stderr, "fuzz_checkpoint: a rejected checkpoint changed the network\n");
    std::abort();
  }
  if (ok) fx.before = fx.flat();  // an accepted file legitimately changes the weights
  std::remove(path.c_str());
  return 0;
}
