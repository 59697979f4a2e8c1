#include "train/curvature.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "core/error.h"
#include "core/json_io.h"
#include "train/run_data.h"
#include "train/run_dir.h"

namespace closerlook {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One Hessian-vector product request: the operator (the whole parameter set, or one block) and
// the vector (flat, float64, over the operator's parameters in order).
struct Request {
  const std::vector<size_t>* params;
  torch::Tensor v;
};

int64_t numel_of(const std::vector<torch::Tensor>& params, const std::vector<size_t>& idx) {
  int64_t n = 0;
  for (size_t i : idx) n += params[i].numel();
  return n;
}

// H v for every request, sharing each batch's forward and create-graph backward. The results are
// flat float64 tensors on the parameters' device.
std::vector<torch::Tensor> hessian_products(const HessianProblem& p, const std::vector<Request>& reqs) {
  std::vector<torch::Tensor> out(reqs.size());
  // Each request's vector cut into its parameters' shapes and dtypes once, not once per batch.
  std::vector<std::vector<torch::Tensor>> inputs(reqs.size()), pieces(reqs.size());
  for (size_t r = 0; r < reqs.size(); ++r) {
    out[r] = torch::zeros_like(reqs[r].v);
    int64_t off = 0;
    for (size_t i : *reqs[r].params) {
      const torch::Tensor& w = p.params[i];
      inputs[r].push_back(w);
      pieces[r].push_back(reqs[r].v.narrow(0, off, w.numel()).view(w.sizes()).to(w.scalar_type()));
      off += w.numel();
    }
  }
  for (int64_t b = 0; b < p.num_batches; ++b) {
    torch::Tensor loss = p.batch_loss(b);
    std::vector<torch::Tensor> grads =
        torch::autograd::grad({loss}, p.params, {}, /*retain_graph=*/true, /*create_graph=*/true, /*allow_unused=*/true);
    for (size_t r = 0; r < reqs.size(); ++r) {
      const auto& idx = *reqs[r].params;
      torch::Tensor dot;
      for (size_t k = 0; k < idx.size(); ++k) {
        if (!grads[idx[k]].defined()) continue;
        torch::Tensor term = (grads[idx[k]] * pieces[r][k]).sum();
        dot = dot.defined() ? dot + term : term;
      }
      if (!dot.defined() || !dot.requires_grad()) continue;  // the loss does not depend on these parameters
      const bool last = r + 1 == reqs.size();
      std::vector<torch::Tensor> hv = torch::autograd::grad({dot}, inputs[r], {}, /*retain_graph=*/!last,
                                                           /*create_graph=*/false, /*allow_unused=*/true);
      int64_t off = 0;
      for (size_t k = 0; k < idx.size(); ++k) {
        const int64_t n = inputs[r][k].numel();
        if (hv[k].defined()) out[r].narrow(0, off, n).add_(hv[k].reshape({-1}).to(torch::kFloat64));
        off += n;
      }
    }
  }
  // Across processes: every rank's partial sum over its batches becomes the whole subset's.
  if (p.reduce) p.reduce(out);
  return out;
}

// A Lanczos run in progress on one operator.
struct Lanczos {
  const std::vector<size_t>* params = nullptr;
  std::vector<torch::Tensor> q;     // orthonormal basis so far
  std::vector<double> alpha, beta;  // T's diagonal and off-diagonal (beta[j] couples q[j], q[j+1])
  int max_steps = 0;                // iterations to run
  bool done = false;                // an invariant subspace was found (beta ~ 0)

  // T's eigen-decomposition: (ascending eigenvalues, eigenvectors as columns), float64 on CPU.
  std::pair<torch::Tensor, torch::Tensor> ritz() const {
    const int64_t m = static_cast<int64_t>(alpha.size());
    torch::Tensor t = torch::zeros({m, m}, torch::kFloat64);
    for (int64_t i = 0; i < m; ++i) {
      t[i][i] = alpha[i];
      if (i + 1 < m) t[i][i + 1] = t[i + 1][i] = beta[i];
    }
    auto [vals, vecs] = torch::linalg_eigh(t);
    return {vals, vecs};
  }
};

void lanczos_step(Lanczos& L, const torch::Tensor& w_in) {
  torch::Tensor w = w_in.clone();
  const torch::Tensor& v = L.q.back();
  const double a = w.dot(v).item<double>();
  w.sub_(v, a);
  if (L.q.size() >= 2) w.sub_(L.q[L.q.size() - 2], L.beta.back());
  // Full reorthogonalisation, twice ("twice is enough", Parlett): keeps the Ritz values free of
  // the spurious copies that plain Lanczos produces in floating point.
  for (int pass = 0; pass < 2; ++pass)
    for (const auto& qj : L.q) w.sub_(qj, w.dot(qj).item<double>());
  L.alpha.push_back(a);
  const double b = w.norm().item<double>();
  L.beta.push_back(b);
  if (b <= 1e-12 * std::max(1.0, std::abs(a))) {
    L.done = true;
    return;
  }
  L.q.push_back(w / b);
}

torch::Tensor gaussian_start(int64_t n, uint64_t seed, torch::Device device) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::Tensor v = torch::randn({n}, gen, torch::TensorOptions().dtype(torch::kFloat64));
  return (v / v.norm()).to(device);
}
torch::Tensor rademacher(int64_t n, uint64_t seed, torch::Device device) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::Tensor v = torch::randint(0, 2, {n}, gen, torch::TensorOptions().dtype(torch::kFloat64)) * 2 - 1;
  return v.to(device);
}

std::vector<double> to_vector(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

std::vector<ParamBlock> layer_blocks(const std::vector<std::string>& names, const std::vector<torch::Tensor>& params) {
  if (params.empty()) throw_bad_input("curvature: the network has no parameters");
  std::vector<ParamBlock> blocks;
  auto module_of = [](const std::string& n) {
    const auto dot = n.rfind('.');
    return dot == std::string::npos ? n : n.substr(0, dot);
  };
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string mod = module_of(names[i]);
    // A weight of dimension >= 2 opens a block; its bias (same module) and the 1-D parameters of
    // the next modules (BatchNorm) join the current one.
    const bool opens = params[i].dim() >= 2 && (blocks.empty() || blocks.back().name != mod);
    if (opens || blocks.empty()) blocks.push_back({mod, {}, 0});
    blocks.back().params.push_back(i);
    blocks.back().numel += params[i].numel();
  }
  return blocks;
}

CurvatureResult compute_curvature(const HessianProblem& p, const CurvatureOptions& o) {
  if (p.params.empty() || !p.batch_loss || p.num_batches < (p.reduce ? 0 : 1)) throw_bad_input("curvature: empty problem");
  if (o.steps < 1 || o.top_k < 1 || o.top_k > o.steps)
    throw_bad_input("curvature: need 1 <= top_k (" + std::to_string(o.top_k) + ") <= steps (" +
                    std::to_string(o.steps) + ")");
  if (o.trace_samples < 0 || o.density_runs < 0) throw_bad_input("curvature: trace_samples and density_runs must be >= 0");
  const auto t0 = std::chrono::steady_clock::now();
  const torch::Device device = p.params.front().device();
  std::vector<size_t> all(p.params.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  const int64_t n_all = numel_of(p.params, all);
  const std::vector<std::string> names =
      p.param_names.size() == p.params.size() ? p.param_names : std::vector<std::string>(p.params.size(), "p");
  const std::vector<ParamBlock> blocks = o.per_layer ? layer_blocks(names, p.params) : std::vector<ParamBlock>{};

  // Operators: 0 = the network; then the blocks; then the density runs (the network again).
  std::vector<Lanczos> ops;
  const int layer_steps = std::max(std::min(o.layer_steps, o.steps), std::min(o.top_k, o.steps));
  // A warm start when given one of the right size (normalised), else the seeded Gaussian.
  auto start = [&](const torch::Tensor& warm, int64_t n, uint64_t seed) {
    if (warm.defined() && warm.numel() == n) {
      torch::Tensor v = warm.reshape({-1}).to(device, torch::kFloat64);
      const double nv = v.norm().item<double>();
      if (std::isfinite(nv) && nv > 0) return v / nv;
    }
    return gaussian_start(n, seed, device);
  };
  ops.push_back({&all, {start(o.network_start, n_all, o.seed)}, {}, {}, o.steps, false});
  for (size_t b = 0; b < blocks.size(); ++b)
    ops.push_back({&blocks[b].params,
                   {start(b < o.block_starts.size() ? o.block_starts[b] : torch::Tensor(), blocks[b].numel, o.seed + 1 + b)},
                   {},
                   {},
                   layer_steps,
                   false});
  const size_t first_density = ops.size();
  for (int r = 0; r < o.density_runs; ++r) {
    torch::Tensor z = rademacher(n_all, o.seed + 100003ULL * (r + 1), device);
    ops.push_back({&all, {z / z.norm()}, {}, {}, o.steps, false});
  }

  CurvatureResult res;
  for (int step = 0; step < o.steps; ++step) {
    std::vector<Request> reqs;
    std::vector<size_t> which;
    for (size_t i = 0; i < ops.size(); ++i)
      if (!ops[i].done && step < ops[i].max_steps && static_cast<int>(ops[i].q.size()) == step + 1) {
        reqs.push_back({ops[i].params, ops[i].q.back()});
        which.push_back(i);
      }
    if (reqs.empty()) break;
    std::vector<torch::Tensor> hv = hessian_products(p, reqs);
    res.hvps += static_cast<int64_t>(reqs.size());
    for (size_t k = 0; k < which.size(); ++k) lanczos_step(ops[which[k]], hv[k]);
  }

  auto spectrum_of = [&](const Lanczos& L, const std::string& name, int64_t numel) {
    Spectrum s;
    s.name = name;
    s.numel = numel;
    auto [vals, vecs] = L.ritz();
    const int64_t m = vals.size(0);
    const double last_beta = L.beta.empty() ? 0.0 : L.beta.back();
    for (int64_t i = m - 1; i >= std::max<int64_t>(0, m - o.top_k); --i) {
      s.eigenvalues.push_back(vals[i].item<double>());
      s.residuals.push_back(std::abs(last_beta * vecs[m - 1][i].item<double>()));
    }
    return s;
  };
  res.network = spectrum_of(ops[0], "network", n_all);
  for (size_t b = 0; b < blocks.size(); ++b) res.blocks.push_back(spectrum_of(ops[1 + b], blocks[b].name, blocks[b].numel));
  if (o.keep_vectors) {
    // The top Ritz vector y = Q s_top of each operator (the next call's warm start).
    auto top_vector = [](const Lanczos& L) {
      auto [vals, vecs] = L.ritz();
      const int64_t m = vals.size(0);
      torch::Tensor y = torch::zeros_like(L.q.front());
      for (int64_t j = 0; j < m && j < static_cast<int64_t>(L.q.size()); ++j) y.add_(L.q[j], vecs[j][m - 1].item<double>());
      return y;
    };
    res.network_vector = top_vector(ops[0]);
    for (size_t b = 0; b < blocks.size(); ++b) res.block_vectors.push_back(top_vector(ops[1 + b]));
  }

  // Hutchinson: all probes in one pass; each probe's product also gives every block's z_b'(Hz)_b.
  if (o.trace_samples > 0) {
    std::vector<Request> reqs;
    for (int s = 0; s < o.trace_samples; ++s) reqs.push_back({&all, rademacher(n_all, o.seed + 7919ULL * (s + 1), device)});
    std::vector<torch::Tensor> hz = hessian_products(p, reqs);
    res.hvps += static_cast<int64_t>(reqs.size());
    auto estimate = [&](int64_t off, int64_t n, double& mean, double& se) {
      std::vector<double> v;
      for (size_t s = 0; s < reqs.size(); ++s)
        v.push_back(reqs[s].v.narrow(0, off, n).dot(hz[s].narrow(0, off, n)).item<double>());
      double m = 0;
      for (double x : v) m += x;
      m /= double(v.size());
      double var = 0;
      for (double x : v) var += (x - m) * (x - m);
      mean = m;
      se = v.size() > 1 ? std::sqrt(var / double(v.size() - 1) / double(v.size())) : kNaN;
    };
    estimate(0, n_all, res.network.trace, res.network.trace_se);
    int64_t off = 0;
    for (size_t b = 0; b < blocks.size(); ++b) {
      // A block's parameters are contiguous in parameter order (layer_blocks keeps that order).
      estimate(off, blocks[b].numel, res.blocks[b].trace, res.blocks[b].trace_se);
      off += blocks[b].numel;
    }
  }

  // SLQ density.
  if (o.density_runs > 0) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = first_density; i < ops.size(); ++i) {
      auto [vals, vecs] = ops[i].ritz();
      res.density_nodes.push_back(to_vector(vals));
      res.density_weights.push_back(to_vector(vecs[0].pow(2)));
      lo = std::min(lo, vals.min().item<double>());
      hi = std::max(hi, vals.max().item<double>());
    }
    const double sigma = o.density_sigma > 0 ? o.density_sigma : std::max(1e-12, 0.01 * (hi - lo));
    const double a = lo - 5 * sigma, b = hi + 5 * sigma;
    const int g = std::max(2, o.density_grid);
    for (int k = 0; k < g; ++k) {
      const double x = a + (b - a) * k / (g - 1);
      double d = 0;
      for (size_t r = 0; r < res.density_nodes.size(); ++r)
        for (size_t i = 0; i < res.density_nodes[r].size(); ++i) {
          const double z = (x - res.density_nodes[r][i]) / sigma;
          d += res.density_weights[r][i] * std::exp(-0.5 * z * z) / (sigma * std::sqrt(2 * M_PI));
        }
      res.density_grid.push_back(x);
      res.density.push_back(d / double(res.density_nodes.size()));
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

nlohmann::json CurvatureResult::to_json() const {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  auto spec = [&](const Spectrum& s) {
    return nlohmann::json{{"name", s.name},           {"numel", s.numel}, {"eigenvalues", s.eigenvalues},
                          {"residuals", s.residuals}, {"trace", num(s.trace)}, {"trace_se", num(s.trace_se)}};
  };
  nlohmann::json j = {{"network", spec(network)}, {"blocks", nlohmann::json::array()}, {"hvps", hvps}, {"seconds", seconds}};
  for (const auto& b : blocks) j["blocks"].push_back(spec(b));
  if (!density.empty())
    j["density"] = {{"grid", density_grid}, {"density", density}, {"nodes", density_nodes}, {"weights", density_weights}};
  return j;
}

HessianProblem network_problem(Network& net, const Dataset& data, int64_t examples, int64_t batch_size,
                               torch::Device device, bool bn_train) {
  if (batch_size < 1) throw_bad_input("curvature: batch_size must be >= 1");
  Dataset sub = dataset_on(data, device, examples);
  const int64_t n = sub.size();
  if (n == 0) throw_bad_input("curvature: no examples in " + data.name);
  net.train(bn_train);
  HessianProblem p;
  for (auto& [name, t] : net.named_parameters()) {
    p.params.push_back(t);
    p.param_names.push_back(name);
  }
  p.num_batches = (n + batch_size - 1) / batch_size;
  torch::Tensor images = sub.images, labels = sub.labels;
  Network* np = &net;
  p.batch_loss = [np, images, labels, n, batch_size, bn_train](int64_t b) {
    const int64_t s = b * batch_size, len = std::min(batch_size, n - s);
    // Train mode also turns dropout on: the same masks at every product (a fixed operator for
    // Lanczos), from a fixed seed per batch (the tracker restores the random stream after).
    if (bn_train) torch::manual_seed(0x5EEDC0DEULL + static_cast<uint64_t>(b));
    torch::Tensor logits = np->forward(images.narrow(0, s, len));
    return torch::nn::functional::cross_entropy(
               logits, labels.narrow(0, s, len),
               torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) /
           static_cast<double>(n);
  };
  return p;
}

HessianProblem shard_batches(HessianProblem p, const ProductReduction& r) {
  if (r.world <= 1) return p;
  CL_CHECK_INPUT(r.rank >= 0 && r.rank < r.world && r.sum,
                 "curvature: rank " + std::to_string(r.rank) + " of " + std::to_string(r.world) + " needs a reduction");
  const int64_t total = p.num_batches, rank = r.rank, world = r.world;
  p.num_batches = total > rank ? (total - rank + world - 1) / world : 0;
  auto whole = p.batch_loss;
  p.batch_loss = [whole, rank, world](int64_t b) { return whole(rank + b * world); };
  p.reduce = r.sum;
  return p;
}

bool CurvatureTrackOptions::due(int64_t iter) const {
  return (every > 0 && iter % every == 0) || std::find(iters.begin(), iters.end(), iter) != iters.end();
}

CurvatureTracker::CurvatureTracker(const CurvatureTrackOptions& o, const Dataset& data, torch::Device device)
    : o_(o), sub_(dataset_on(data, device, o.examples)), device_(device) {
  CL_CHECK_INPUT(o.examples >= 1 && o.batch_size >= 1 && o.steps >= 1 && o.layer_steps >= 1,
                 "curvature tracking: examples, batch_size, steps and layer_steps must be >= 1");
  CL_CHECK_INPUT(sub_.size() > 0, "curvature tracking: no training examples");
}

CurvatureOptions CurvatureTracker::options() const {
  CurvatureOptions c;
  c.top_k = 1;
  c.steps = o_.steps;
  c.layer_steps = o_.layer_steps;
  c.trace_samples = o_.trace_samples;
  c.per_layer = o_.per_layer;
  c.seed = o_.seed;
  return c;
}

std::vector<HessianProblem> CurvatureTracker::problems(Network& net) {
  std::vector<HessianProblem> out;
  const int64_t n = sub_.size();
  for (int64_t s = 0; s < n; s += o_.batch_size) {
    const int64_t len = std::min(o_.batch_size, n - s);
    Dataset b = sub_;
    b.images = sub_.images.narrow(0, s, len);
    b.labels = sub_.labels.narrow(0, s, len);
    out.push_back(network_problem(net, b, len, len, device_, o_.bn_train));
  }
  return out;
}

nlohmann::json CurvatureTracker::measure(Network& net, int64_t iter, double lr) {
  const auto t0 = std::chrono::steady_clock::now();
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  nlohmann::json row = {{"iter", iter}, {"lr", num(lr)}, {"examples", sub_.size()}, {"bn", o_.bn_train ? "train" : "eval"},
                        {"steps", o_.steps}, {"layer_steps", o_.layer_steps}};
  // What training must find as it left it: requires_grad (freezing), buffers (BN running
  // statistics), the mode, the CPU random stream (dropout).
  const bool was_training = net.is_training();
  std::vector<std::pair<torch::Tensor, bool>> grads;
  for (auto& [name, p] : net.named_parameters()) grads.emplace_back(p, p.requires_grad());
  std::vector<std::pair<torch::Tensor, torch::Tensor>> buffers;
  for (auto& [name, b] : net.named_buffers()) buffers.emplace_back(b, b.clone());
  at::Generator cpu_gen = at::detail::getDefaultCPUGenerator();
  const at::Tensor rng_state = cpu_gen.get_state();
  // The device's stream too (BN-train products seed dropout on every device: manual_seed).
  std::optional<at::Generator> dev_gen;
  at::Tensor dev_state;
  if (!device_.is_cpu()) {
    dev_gen = at::globalContext().defaultGenerator(device_);
    dev_state = dev_gen->get_state();
  }
  auto restore = [&] {
    torch::NoGradGuard ng;
    for (auto& [b, saved] : buffers) b.copy_(saved);
    for (auto& [p, rg] : grads) p.requires_grad_(rg);
    net.train(was_training);
    cpu_gen.set_state(rng_state);
    if (dev_gen) dev_gen->set_state(dev_state);
  };
  try {
    for (auto& [p, rg] : grads) p.requires_grad_(true);
    std::vector<HessianProblem> probs = problems(net);
    const size_t K = probs.size();
    warm_net_.resize(K);
    warm_blocks_.resize(K);
    std::vector<double> lam, res, tr, tr_se;
    std::vector<std::vector<double>> blam, bres, btr, bmass;  // [block][batch]
    const std::vector<ParamBlock> pblocks = layer_blocks(probs.front().param_names, probs.front().params);
    std::vector<std::string> bnames;
    std::vector<int64_t> bnumel;
    for (const auto& b : pblocks) {
      bnames.push_back(b.name);
      bnumel.push_back(b.numel);
    }
    const size_t nb = pblocks.size();
    blam.resize(nb);
    bres.resize(nb);
    btr.resize(nb);
    bmass.resize(nb);
    int64_t hvps = 0;
    for (size_t k = 0; k < K; ++k) {
      CurvatureOptions co = options();
      co.keep_vectors = true;  // the top vector's mass per block, and the next warm start
      if (o_.warm_start) {
        co.network_start = warm_net_[k];
        co.block_starts = warm_blocks_[k];
      }
      CurvatureResult r = compute_curvature(probs[k], co);
      hvps += r.hvps;
      warm_net_[k] = r.network_vector;
      warm_blocks_[k] = r.block_vectors;
      lam.push_back(r.network.eigenvalues.empty() ? NAN : r.network.eigenvalues[0]);
      res.push_back(r.network.residuals.empty() ? NAN : r.network.residuals[0]);
      tr.push_back(r.network.trace);
      tr_se.push_back(r.network.trace_se);
      // Where the top direction lives: the squared norm of the unit top Ritz vector's block part
      // (blocks are contiguous in parameter order). Free, and defined without per_layer.
      {
        torch::Tensor y = r.network_vector;
        const double n2 = y.dot(y).item<double>();
        int64_t off = 0;
        for (size_t b = 0; b < nb; ++b) {
          const double m = y.narrow(0, off, pblocks[b].numel).pow(2).sum().item<double>();
          bmass[b].push_back(n2 > 0 ? m / n2 : NAN);
          off += pblocks[b].numel;
        }
      }
      for (size_t b = 0; b < r.blocks.size() && b < nb; ++b) {
        blam[b].push_back(r.blocks[b].eigenvalues.empty() ? NAN : r.blocks[b].eigenvalues[0]);
        bres[b].push_back(r.blocks[b].residuals.empty() ? NAN : r.blocks[b].residuals[0]);
        btr[b].push_back(r.blocks[b].trace);
      }
    }
    restore();
    auto mean = [](const std::vector<double>& v) {
      double m = 0;
      for (double x : v) m += x / double(v.size());
      return v.empty() ? NAN : m;
    };
    auto se = [&](const std::vector<double>& v) {
      if (v.size() < 2) return double(NAN);
      const double m = mean(v);
      double s = 0;
      for (double x : v) s += (x - m) * (x - m);
      return std::sqrt(s / double(v.size() - 1) / double(v.size()));
    };
    auto maxv = [](const std::vector<double>& v) {
      double m = -INFINITY;
      for (double x : v) m = std::isnan(x) ? x : std::max(m, x);
      return v.empty() ? NAN : m;
    };
    auto arr = [&](const std::vector<double>& v) {
      nlohmann::json a = nlohmann::json::array();
      for (double x : v) a.push_back(num(x));
      return a;
    };
    const double lmax = mean(lam);
    row["batches"] = K;
    row["lambda_max"] = num(lmax);
    row["lambda_max_se"] = num(se(lam));
    row["lambda_max_batches"] = arr(lam);
    row["residual"] = num(maxv(res));
    row["sharpness"] = num(lmax * lr / 2);
    if (o_.trace_samples > 0) {
      row["trace"] = num(mean(tr));
      // Between batches when there are several, else the single batch's Hutchinson se.
      row["trace_se"] = num(K > 1 ? se(tr) : tr_se[0]);
    }
    nlohmann::json blocks = nlohmann::json::array();
    for (size_t b = 0; b < bnames.size(); ++b) {
      // The per-batch masses and their between-batch se (as lambda_max has): the within-run error
      // of a claim on where the sharpest direction lives (warmup.deep_curvature).
      nlohmann::json bj = {{"name", bnames[b]},
                           {"numel", bnumel[b]},
                           {"top_vector_mass", num(mean(bmass[b]))},
                           {"top_vector_mass_se", num(se(bmass[b]))},
                           {"top_vector_mass_batches", arr(bmass[b])}};
      if (o_.per_layer) {
        bj["lambda_max"] = num(mean(blam[b]));
        bj["lambda_max_se"] = num(se(blam[b]));
        bj["residual"] = num(maxv(bres[b]));
        if (o_.trace_samples > 0) bj["trace"] = num(mean(btr[b]));
      }
      blocks.push_back(bj);
    }
    row["blocks"] = blocks;
    row["hvps"] = hvps;
  } catch (const std::exception& e) {
    // Non-finite weights (a diverging run) make the tridiagonal non-finite: a row that says so.
    restore();
    row["error"] = e.what();
    row["lambda_max"] = nullptr;
    row["sharpness"] = nullptr;
  }
  row["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return row;
}

nlohmann::json run_curvature_job(const CurvatureJob& job, torch::Device device) {
  const std::string run_dir = run_dir_of_checkpoint(job.checkpoint);
  NetworkPtr net = load_network(job.checkpoint, device);
  const DataSplit data = load_run_data(run_dir, job.data_overrides);
  HessianProblem problem = network_problem(*net, data.train, job.examples, job.batch_size, device, job.bn_train);
  const int64_t batches = problem.num_batches;
  CurvatureResult r = compute_curvature(shard_batches(std::move(problem), job.processes), job.options);
  nlohmann::json j = r.to_json();
  j["settings"] = {{"checkpoint", job.checkpoint},
                   {"examples", std::min<int64_t>(job.examples, data.train.size())},
                   {"dataset", data.train.name},
                   {"batch_size", job.batch_size},
                   {"bn", job.bn_train ? "train" : "eval"},
                   {"top_k", job.options.top_k},
                   {"steps", job.options.steps},
                   {"layer_steps", job.options.layer_steps},
                   {"trace_samples", job.options.trace_samples},
                   {"density_runs", job.options.density_runs},
                   {"per_layer", job.options.per_layer},
                   {"seed", job.options.seed},
                   {"batches", batches},
                   {"processes", std::max(1, job.processes.world)},
                   {"loss", "mean cross-entropy (no weight decay)"}};
  if (!job.out_dir.empty() && job.processes.rank == 0) write_json(job.out_dir + "/curvature.json", j);
  return j;
}

}  // namespace closerlook
