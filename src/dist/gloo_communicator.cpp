#include "dist/gloo_communicator.h"

#include <fmt/format.h>

#include "core/error.h"

#if defined(CL_HAVE_GLOO) && CL_HAVE_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace closerlook {

#if defined(CL_HAVE_GLOO) && CL_HAVE_GLOO

bool gloo_available() { return true; }

namespace {

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

c10d::ReduceOp to_c10d(ReduceKind op) {
  switch (op) {
    case ReduceKind::Max: return c10d::ReduceOp::MAX;
    case ReduceKind::Min: return c10d::ReduceOp::MIN;
    default: return c10d::ReduceOp::SUM;
  }
}

class GlooCommunicator : public Communicator {
 public:
  explicit GlooCommunicator(const Rendezvous& r) : r_(r) {
    std::shared_ptr<::gloo::transport::Device> device;
    try {
      if (!r.ifname.empty())
        device = c10d::ProcessGroupGloo::createDeviceForInterface(r.ifname);
      else if (is_loopback(r.master_addr))
        device = c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
      else
        device = c10d::ProcessGroupGloo::createDefaultDevice();
    } catch (const std::exception& e) {
      throw Error(ExitCode::BadInput,
                  fmt::format("distributed: cannot open a Gloo device ({}): {}",
                              r.ifname.empty() ? "this host's address" : "GLOO_SOCKET_IFNAME=" + r.ifname, e.what()));
    }
    try {
      c10d::TCPStoreOptions so;
      so.port = static_cast<std::uint16_t>(r.master_port);
      so.isServer = r.rank == 0;
      so.numWorkers = static_cast<std::size_t>(r.world);
      so.waitWorkers = true;
      so.timeout = r.timeout;
      store_ = c10::make_intrusive<c10d::TCPStore>(r.master_addr, so);
      pg_ = make_group("step", device, r.timeout);
      wait_pg_ = make_group("wait", device, r.wait_timeout);
      // Nobody leaves the rendezvous before everyone has connected both groups: a rank that
      // finished early (e.g. nothing to do) and exited would otherwise break a slower rank's
      // connection set-up.
      pg_->barrier()->wait();
      wait_pg_->barrier()->wait();
    } catch (const std::exception& e) {
      broken_ = true;
      throw Error(ExitCode::Io, fmt::format("distributed: rendezvous failed for {}: not all {} ranks joined, or "
                                            "MASTER_ADDR:MASTER_PORT is unreachable or in use ({})",
                                            r.describe(), r.world, first_line(e.what())));
    }
  }

  // After a failure, Gloo's worker threads may still be blocked on a dead peer: joining them
  // in the destructors could hang the exit we are trying to make, so the groups are leaked.
  ~GlooCommunicator() override {
    if (broken_) {
      (void)pg_.release();
      (void)wait_pg_.release();
      (void)store_.release();
    }
  }

  int rank() const override { return r_.rank; }
  int size() const override { return r_.world; }
  std::string describe() const override { return "gloo " + r_.describe(); }

  void allreduce_(torch::Tensor& t, ReduceKind op) override {
    std::vector<torch::Tensor> ts{t};
    allreduce_many_(ts, op);
  }

  void allreduce_many_(std::vector<torch::Tensor>& ts, ReduceKind op) override {
    int64_t n = 0;
    for (const auto& t : ts) n += t.numel();
    guarded(fmt::format("allreduce of {} values", n), r_.timeout, [&] {
      c10d::AllreduceOptions o;
      o.reduceOp = to_c10d(op);
      std::vector<std::vector<torch::Tensor>> cpu(ts.size());
      std::vector<c10::intrusive_ptr<c10d::Work>> works;
      for (size_t k = 0; k < ts.size(); ++k) {
        cpu[k] = {host(ts[k])};
        works.push_back(pg_->allreduce(cpu[k], o));
      }
      for (size_t k = 0; k < ts.size(); ++k) {
        works[k]->wait();
        back(ts[k], cpu[k][0]);
      }
    });
  }

  void broadcast_(torch::Tensor& t, int root) override {
    CL_CHECK_INPUT(root >= 0 && root < r_.world,
                   fmt::format("broadcast: root {} outside a world of {}", root, r_.world));
    guarded(fmt::format("broadcast of {} values from rank {}", t.numel(), root), r_.timeout, [&] {
      c10d::BroadcastOptions o;
      o.rootRank = root;
      std::vector<torch::Tensor> v{host(t)};
      pg_->broadcast(v, o)->wait();
      back(t, v[0]);
    });
  }

  void barrier() override {
    guarded("barrier", r_.timeout, [&] { pg_->barrier()->wait(); });
  }

  void wait_for_all() override {
    guarded("wait for all ranks", r_.wait_timeout, [&] { wait_pg_->barrier()->wait(); });
  }

  std::vector<torch::Tensor> allgather(const torch::Tensor& t) override {
    std::vector<torch::Tensor> out;
    guarded(fmt::format("allgather of {} values", t.numel()), r_.timeout, [&] {
      std::vector<torch::Tensor> in{host(t)};
      std::vector<std::vector<torch::Tensor>> outs(1);
      for (int r = 0; r < r_.world; ++r) outs[0].push_back(torch::empty_like(in[0]));
      pg_->allgather(outs, in)->wait();
      for (auto& o : outs[0]) out.push_back(t.device().is_cpu() ? o : o.to(t.device()));
    });
    return out;
  }

 private:
  c10::intrusive_ptr<c10d::ProcessGroupGloo> make_group(const std::string& prefix,
                                                        const std::shared_ptr<::gloo::transport::Device>& device,
                                                        std::chrono::milliseconds timeout) {
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(device);
    auto store = c10::make_intrusive<c10d::PrefixStore>(prefix, store_);
    return c10::make_intrusive<c10d::ProcessGroupGloo>(store, r_.rank, r_.world, opts);
  }

  // Gloo works on contiguous CPU tensors; others are staged through one.
  static torch::Tensor host(const torch::Tensor& t) {
    return (t.device().is_cpu() && t.is_contiguous()) ? t : t.to(torch::kCPU).contiguous();
  }
  static void back(torch::Tensor& t, const torch::Tensor& h) {
    if (!h.is_same(t)) t.copy_(h);
  }

  template <class F>
  void guarded(const std::string& what, std::chrono::milliseconds timeout, F&& f) {
    if (broken_)
      throw Error(ExitCode::Io, fmt::format("distributed: {} on rank {} of {}: the communicator failed earlier ({})",
                                            what, r_.rank, r_.world, failure_));
    try {
      f();
    } catch (const std::exception& e) {
      broken_ = true;
      failure_ = first_line(e.what());
      throw Error(ExitCode::Io,
                  fmt::format("distributed: {} failed on rank {} of {} (timeout {} s): a peer process died, hung or "
                              "lost its connection; the other ranks stop too: {}",
                              what, r_.rank, r_.world, timeout.count() / 1000.0, failure_));
    }
  }

  Rendezvous r_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_, wait_pg_;
  bool broken_ = false;
  std::string failure_;
};

}  // namespace

std::unique_ptr<Communicator> make_gloo_communicator(const Rendezvous& r) {
  return std::make_unique<GlooCommunicator>(r);
}

#else

bool gloo_available() { return false; }

std::unique_ptr<Communicator> make_gloo_communicator(const Rendezvous& r) {
  throw_bad_input("distributed: " + r.describe() + " needs Gloo, but closerlook was built with CLOSERLOOK_GLOO=OFF");
}

#endif

}  // namespace closerlook
