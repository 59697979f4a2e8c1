#include "dist/data_parallel.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/flat.h"
#include "dist/rendezvous.h"

namespace closerlook {

namespace {

// Tensors grouped by dtype (flattening casts otherwise) into buckets of at most `bytes` each.
std::vector<std::vector<torch::Tensor>> buckets_of(const std::vector<torch::Tensor>& ts, int64_t bytes) {
  std::vector<std::vector<torch::Tensor>> out;
  std::vector<int64_t> used;
  std::vector<torch::ScalarType> types;
  std::map<torch::ScalarType, size_t> open;  // dtype -> index of its bucket being filled
  for (const auto& t : ts) {
    const int64_t b = t.numel() * static_cast<int64_t>(t.element_size());
    auto it = open.find(t.scalar_type());
    if (it == open.end() || (used[it->second] > 0 && used[it->second] + b > bytes)) {
      out.emplace_back();
      used.push_back(0);
      open[t.scalar_type()] = out.size() - 1;
      it = open.find(t.scalar_type());
    }
    out[it->second].push_back(t);
    used[it->second] += b;
  }
  return out;
}

// Every tensor in `ts` takes root's values, one broadcast per dtype bucket.
void broadcast_tensors(Communicator& comm, const std::vector<torch::Tensor>& ts, int root) {
  torch::NoGradGuard ng;
  for (auto& bucket : buckets_of(ts, int64_t(1) << 62)) {
    auto flat = flatten_tensors(bucket, bucket.front().scalar_type());
    comm.broadcast_(flat, root);
    unflatten_into(flat, bucket);
  }
}

}  // namespace

void broadcast_network(Communicator& comm, Network& net, int root) {
  if (comm.size() == 1) return;
  std::vector<torch::Tensor> ts;
  for (auto& [name, p] : net.named_parameters()) ts.push_back(p);
  for (auto& [name, b] : net.named_buffers()) ts.push_back(b);
  broadcast_tensors(comm, ts, root);
}

void average_buffers(Communicator& comm, Network& net) {
  if (comm.size() == 1) return;
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> fl;
  for (auto& [name, b] : net.named_buffers())
    if (b.is_floating_point()) fl.push_back(b);
  if (fl.empty()) return;
  for (auto& bucket : buckets_of(fl, int64_t(1) << 62)) {
    auto flat = flatten_tensors(bucket, bucket.front().scalar_type());
    comm.allreduce_(flat);
    flat.div_(static_cast<double>(comm.size()));
    unflatten_into(flat, bucket);
  }
}

DataParallel::DataParallel(Communicator& comm, DataParallelOptions opts) : comm_(comm), opts_(opts) {
  CL_CHECK_INPUT(opts_.bucket_bytes > 0, "data parallel: bucket_bytes must be > 0");
}

void DataParallel::on_start(Network& net, int64_t start_iter) {
  if (comm_.size() == 1) return;
  auto it = torch::tensor({start_iter}, torch::kInt64);
  auto all = comm_.allgather(it);
  for (int r = 0; r < comm_.size(); ++r) {
    const int64_t s = all[static_cast<size_t>(r)].item<int64_t>();
    if (s != start_iter)
      throw_bad_input(fmt::format(
          "data parallel: rank {} starts at iteration {} but rank {} at iteration {}: every rank must see the same "
          "run folder (put --out on a filesystem shared by all machines, or start a fresh folder)",
          comm_.rank(), start_iter, r, s));
  }
  broadcast_network(comm_, net, 0);
}

torch::Tensor DataParallel::reduce_gradients(Network& net, const torch::Tensor& local_loss, int64_t local_examples) {
  ++steps_;
  if (comm_.size() == 1) return local_loss;
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> grads;
  for (auto& [name, p] : net.named_parameters())
    if (p.grad().defined()) grads.push_back(p.mutable_grad());
  // The global mean gradient is sum_r n_r g_r / sum_r n_r (slices may differ by one example):
  // each rank sends n_r g_r, and the last bucket also carries n_r and n_r * loss_r.
  const double n = static_cast<double>(local_examples);
  auto buckets = buckets_of(grads, opts_.bucket_bytes);
  std::vector<torch::Tensor> flats;
  for (auto& b : buckets) flats.push_back(flatten_tensors(b, b.front().scalar_type()).mul_(n));
  auto tail = torch::stack({local_loss.to(torch::kCPU, torch::kFloat64).reshape({}) * n,
                            torch::tensor(n, torch::kFloat64)});
  flats.push_back(tail);
  comm_.allreduce_many_(flats);
  const double total = tail[1].item<double>();
  CL_CHECK_INPUT(total > 0, "data parallel: a global batch with no examples");
  for (size_t k = 0; k < buckets.size(); ++k) unflatten_into(flats[k].div_(total), buckets[k]);
  return (tail[0] / total).to(local_loss.device(), local_loss.scalar_type());
}

std::unique_ptr<DataParallelSession> data_parallel_from_env() {
  const Rendezvous r = rendezvous_from_env();
  if (r.world == 1) return nullptr;
  auto s = std::make_unique<DataParallelSession>();
  s->comm = connect(r);
  s->driver = std::make_unique<DataParallel>(*s->comm);
  return s;
}

}  // namespace closerlook
