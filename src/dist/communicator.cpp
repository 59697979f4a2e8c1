#include "dist/communicator.h"

#include <cstring>

#include "core/error.h"

namespace closerlook {

void Communicator::allreduce_many_(std::vector<torch::Tensor>& ts, ReduceKind op) {
  for (auto& t : ts) allreduce_(t, op);
}

std::vector<std::string> Communicator::allgather_blobs(const std::string& blob) {
  if (size() == 1) return {blob};
  auto n = torch::tensor({static_cast<int64_t>(blob.size())}, torch::kInt64);
  auto sizes = allgather(n);
  int64_t longest = 0;
  for (const auto& s : sizes) longest = std::max(longest, s.item<int64_t>());
  auto mine = torch::zeros({std::max<int64_t>(longest, 1)}, torch::kUInt8);
  if (!blob.empty()) std::memcpy(mine.data_ptr<uint8_t>(), blob.data(), blob.size());
  auto all = allgather(mine);
  std::vector<std::string> out;
  out.reserve(all.size());
  for (size_t r = 0; r < all.size(); ++r)
    out.emplace_back(reinterpret_cast<const char*>(all[r].data_ptr<uint8_t>()),
                     static_cast<size_t>(sizes[r].item<int64_t>()));
  return out;
}

std::vector<torch::Tensor> Communicator::allgather_any(const torch::Tensor& t) {
  if (size() == 1) return {t};
  // Shapes travel as int64 blobs; the values as one flat tensor padded to the largest.
  const auto shape = t.sizes().vec();
  std::string shape_blob(reinterpret_cast<const char*>(shape.data()), shape.size() * sizeof(int64_t));
  auto shape_blobs = allgather_blobs(shape_blob);
  std::vector<std::vector<int64_t>> shapes;
  int64_t longest = 1;
  for (const auto& b : shape_blobs) {
    std::vector<int64_t> s(b.size() / sizeof(int64_t));
    if (!s.empty()) std::memcpy(s.data(), b.data(), b.size());
    int64_t n = 1;
    for (auto d : s) n *= d;
    longest = std::max(longest, n);
    shapes.push_back(std::move(s));
  }
  auto flat = torch::zeros({longest}, t.options());
  flat.narrow(0, 0, t.numel()).copy_(t.reshape({-1}));
  auto all = allgather(flat);
  std::vector<torch::Tensor> out;
  for (size_t r = 0; r < all.size(); ++r) {
    int64_t n = 1;
    for (auto d : shapes[r]) n *= d;
    out.push_back(all[r].narrow(0, 0, n).reshape(shapes[r]).clone());
  }
  return out;
}

namespace {

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string describe() const override { return "local (one process)"; }
  void allreduce_(torch::Tensor&, ReduceKind) override {}
  void broadcast_(torch::Tensor&, int root) override {
    CL_CHECK_INPUT(root == 0, "broadcast: root " + std::to_string(root) + " outside a world of 1");
  }
  void barrier() override {}
  void wait_for_all() override {}
  std::vector<torch::Tensor> allgather(const torch::Tensor& t) override { return {t.clone()}; }
};

}  // namespace

std::unique_ptr<Communicator> make_local_communicator() { return std::make_unique<LocalCommunicator>(); }

}  // namespace closerlook
