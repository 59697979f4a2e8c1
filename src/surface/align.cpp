#include "surface/align.h"

#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "core/error.h"
#include "surface/linear_assignment.h"
#include "surface/weights.h"

namespace closerlook {

namespace {

std::map<std::string, torch::Tensor> tensors_of(Network& net) {
  std::map<std::string, torch::Tensor> m;
  for (auto& [n, t] : net.named_parameters()) m[n] = t;
  for (auto& [n, t] : net.named_buffers()) m[n] = t;
  return m;
}

// Index vector of an axis of size n * block for unit permutation p.
torch::Tensor expanded(const std::vector<int64_t>& p, int64_t block, torch::Device dev) {
  std::vector<int64_t> idx;
  idx.reserve(p.size() * block);
  for (int64_t u : p)
    for (int64_t j = 0; j < block; ++j) idx.push_back(u * block + j);
  return torch::tensor(idx, torch::kInt64).to(dev);
}

void check_perm(const std::vector<int64_t>& p, int64_t n, size_t g) {
  CL_CHECK_INPUT(static_cast<int64_t>(p.size()) == n,
                 "permutation: group " + std::to_string(g) + " has " + std::to_string(p.size()) + " entries, size " + std::to_string(n));
  std::vector<char> seen(n, 0);
  for (int64_t u : p) {
    CL_CHECK_INPUT(u >= 0 && u < n && !seen[u], "permutation: group " + std::to_string(g) + " is not a permutation");
    seen[u] = 1;
  }
}

std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

double total_distance(Network& a, Network& b) {
  auto d = flat_parameters(a) - flat_parameters(b);
  return d.norm().item<double>();
}

}  // namespace

Permutation identity_permutation(const PermutationSpec& spec) {
  Permutation p;
  p.spec = spec;
  for (const auto& g : spec.groups) {
    std::vector<int64_t> v(g.size);
    std::iota(v.begin(), v.end(), 0);
    p.perm.push_back(v);
  }
  return p;
}

Permutation random_permutation(const PermutationSpec& spec, uint64_t seed) {
  Permutation p = identity_permutation(spec);
  std::mt19937_64 rng(seed);
  for (auto& v : p.perm) std::shuffle(v.begin(), v.end(), rng);
  return p;
}

Permutation inverse_permutation(const Permutation& p) {
  Permutation q = p;
  for (size_t g = 0; g < p.perm.size(); ++g)
    for (size_t i = 0; i < p.perm[g].size(); ++i) q.perm[g][p.perm[g][i]] = static_cast<int64_t>(i);
  return q;
}

nlohmann::json permutation_to_json(const Permutation& p) {
  nlohmann::json j = spec_to_json(p.spec);
  for (size_t g = 0; g < p.perm.size(); ++g) j["groups"][g]["permutation"] = p.perm[g];
  return j;
}

void apply_permutation(Network& net, const Permutation& p) {
  CL_CHECK_INPUT(p.perm.size() == p.spec.groups.size(), "permutation: groups and permutations differ in number");
  auto ts = tensors_of(net);
  torch::NoGradGuard no_grad;
  for (size_t g = 0; g < p.spec.groups.size(); ++g) {
    const auto& grp = p.spec.groups[g];
    check_perm(p.perm[g], grp.size, g);
    for (const auto& a : grp.axes) {
      auto it = ts.find(a.tensor);
      CL_CHECK_INPUT(it != ts.end(), "permutation: the network has no tensor '" + a.tensor + "'");
      auto& t = it->second;
      CL_CHECK_INPUT(a.axis < t.dim() && t.size(a.axis) == grp.size * a.block,
                     "permutation: '" + a.tensor + "' axis " + std::to_string(a.axis) + " does not have size " +
                         std::to_string(grp.size * a.block));
      t.copy_(t.index_select(a.axis, expanded(p.perm[g], a.block, t.device())));
    }
  }
}

double weight_inner_product(Network& a, Network& b) {
  return (flat_parameters(a) * flat_parameters(b)).sum().item<double>();
}

nlohmann::json AlignResult::to_json() const {
  return {{"method", method},
          {"iterations", iterations},
          {"objective", method == "weights" ? "sum of <W_A, W_B> over all parameters"
                                            : "mean correlation of matched units' activations"},
          {"objective_before", objective_before},
          {"objective_after", objective_after},
          {"distance_before", distance_before},
          {"distance_after", distance_after},
          {"groups", permutation.perm.size()},
          {"seconds", seconds}};
}

namespace {

// Weight matching: perm over groups, B's tensors in float64.
std::vector<std::vector<int64_t>> weight_matching(const PermutationSpec& spec, std::map<std::string, torch::Tensor> A,
                                                  std::map<std::string, torch::Tensor> B, const AlignOptions& o,
                                                  int64_t& iterations) {
  for (auto* m : {&A, &B})
    for (auto& [n, t] : *m) t = t.detach().to(torch::kCPU, torch::kFloat64);
  Permutation cur = identity_permutation(spec);
  // which (group, axis) permute each parameter
  std::map<std::string, std::vector<std::pair<size_t, const PermAxis*>>> axes_of;
  for (size_t g = 0; g < spec.groups.size(); ++g)
    for (const auto& a : spec.groups[g].axes)
      if (!a.buffer) axes_of[a.tensor].push_back({g, &a});
  auto permuted_b = [&](const std::string& name, size_t skip_g, int64_t skip_axis) {
    torch::Tensor t = B.at(name);
    for (auto& [g, a] : axes_of[name]) {
      if (g == skip_g && a->axis == skip_axis) continue;
      t = t.index_select(a->axis, expanded(cur.perm[g], a->block, torch::kCPU));
    }
    return t;
  };
  std::mt19937_64 rng(o.seed);
  std::vector<size_t> order(spec.groups.size());
  std::iota(order.begin(), order.end(), 0);
  iterations = 0;
  for (int64_t it = 0; it < o.max_iterations; ++it) {
    ++iterations;
    bool progress = false;
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t g : order) {
      const int64_t n = spec.groups[g].size;
      torch::Tensor M = torch::zeros({n, n}, torch::kFloat64);
      for (const auto& a : spec.groups[g].axes) {
        if (a.buffer) continue;
        auto wa = A.at(a.tensor).movedim(a.axis, 0).reshape({n, -1});
        auto wb = permuted_b(a.tensor, g, a.axis).movedim(a.axis, 0).reshape({n, -1});
        M += wa.mm(wb.t());
      }
      const auto cost = to_vector(M);
      const Assignment as = linear_sum_assignment(cost, n, n, /*maximize=*/true);
      double old_v = 0;
      for (int64_t i = 0; i < n; ++i) old_v += cost[i * n + cur.perm[g][i]];
      const double scale = std::max(1.0, std::abs(old_v));
      if (as.cost > old_v + 1e-12 * scale) {
        progress = true;
        cur.perm[g] = as.col_of_row;
      }
    }
    if (!progress) break;
  }
  return cur.perm;
}

// Per-group correlation sums for activation matching.
struct CorrAcc {
  torch::Tensor sa, sb, saa, sbb, sab;
  double count = 0;
};

torch::Tensor units_last(const torch::Tensor& t) {  // [N, C, ...] -> [M, C] float64
  auto x = t.dim() > 2 ? t.movedim(1, -1) : t;
  return x.reshape({-1, t.size(1)}).to(torch::kCPU, torch::kFloat64);
}

}  // namespace

AlignResult align_networks(Network& a, Network& b, const AlignOptions& opts, const Dataset* data) {
  const auto t0 = std::chrono::steady_clock::now();
  require_same_architecture(a, b, "network A", "network B");
  CL_CHECK_INPUT(opts.method == "weights" || opts.method == "activations",
                 "align: --method must be weights or activations, got '" + opts.method + "'");
  CL_CHECK_INPUT(opts.max_iterations >= 1, "align: max_iterations must be >= 1");
  AlignResult r;
  r.method = opts.method;
  const PermutationSpec spec = derive_permutation_spec(a);
  r.distance_before = total_distance(a, b);
  if (opts.method == "weights") {
    r.objective_before = weight_inner_product(a, b);
    r.permutation.spec = spec;
    r.permutation.perm = weight_matching(spec, tensors_of(a), tensors_of(b), opts, r.iterations);
    apply_permutation(b, r.permutation);
    r.objective_after = weight_inner_product(a, b);
  } else {
    CL_CHECK_INPUT(data && data->size() > 0, "align --method activations needs training images");
    CL_CHECK_INPUT(opts.samples >= 2 && opts.batch_size >= 1, "align: samples must be >= 2 and batch_size >= 1");
    const int64_t n = std::min(opts.samples, data->size());
    auto gen = at::detail::createCPUGenerator(opts.seed);
    torch::Tensor idx = torch::randperm(data->size(), gen, torch::kInt64).narrow(0, 0, n);
    const bool ta = a.is_training(), tb = b.is_training();
    a.train(false);
    b.train(false);
    torch::Device dev = a.parameters().front().device();
    std::vector<std::vector<CorrAcc>> acc(spec.groups.size());
    try {
      for (int64_t s = 0; s < n; s += opts.batch_size) {
        auto x = data->images.index_select(0, idx.narrow(0, s, std::min(opts.batch_size, n - s)).to(data->images.device()))
                     .to(dev);
        GraphTrace ga = trace_permutation_graph(a, x, true), gb = trace_permutation_graph(b, x, true);
        CL_CHECK_INPUT(ga.spec.groups.size() == spec.groups.size() && gb.spec.groups.size() == spec.groups.size(),
                       "align: the permutation groups differ between batches");
        for (size_t g = 0; g < spec.groups.size(); ++g) {
          CL_CHECK_INPUT(!ga.activations[g].empty(),
                         "align --method activations: group " + std::to_string(g) + " (" + spec.groups[g].label +
                             ") has no ReLU output to correlate; use --method weights");
          CL_CHECK_INPUT(ga.activations[g].size() == gb.activations[g].size(), "align: activation sites differ");
          if (acc[g].empty()) acc[g].resize(ga.activations[g].size());
          for (size_t k = 0; k < ga.activations[g].size(); ++k) {
            auto xa = units_last(ga.activations[g][k]), xb = units_last(gb.activations[g][k]);
            auto& c = acc[g][k];
            if (!c.sa.defined()) {
              const int64_t u = xa.size(1);
              c.sa = torch::zeros({u}, torch::kFloat64);
              c.sb = torch::zeros({u}, torch::kFloat64);
              c.saa = torch::zeros({u}, torch::kFloat64);
              c.sbb = torch::zeros({u}, torch::kFloat64);
              c.sab = torch::zeros({u, u}, torch::kFloat64);
            }
            c.sa += xa.sum(0);
            c.sb += xb.sum(0);
            c.saa += (xa * xa).sum(0);
            c.sbb += (xb * xb).sum(0);
            c.sab += xa.t().mm(xb);
            c.count += static_cast<double>(xa.size(0));
          }
        }
      }
    } catch (...) {
      a.train(ta);
      b.train(tb);
      throw;
    }
    a.train(ta);
    b.train(tb);
    r.permutation = identity_permutation(spec);
    double before = 0, after = 0, units = 0;
    for (size_t g = 0; g < spec.groups.size(); ++g) {
      const int64_t u = spec.groups[g].size;
      torch::Tensor corr = torch::zeros({u, u}, torch::kFloat64);
      for (auto& c : acc[g]) {
        auto ma = c.sa / c.count, mb = c.sb / c.count;
        auto va = (c.saa / c.count - ma * ma).clamp_min(0), vb = (c.sbb / c.count - mb * mb).clamp_min(0);
        auto cov = c.sab / c.count - ma.unsqueeze(1) * mb.unsqueeze(0);
        corr += cov / (va.sqrt().unsqueeze(1) * vb.sqrt().unsqueeze(0) + 1e-12);
      }
      corr /= static_cast<double>(acc[g].size());
      const auto cost = to_vector(corr);
      const Assignment as = linear_sum_assignment(cost, u, u, /*maximize=*/true);
      r.permutation.perm[g] = as.col_of_row;
      for (int64_t i = 0; i < u; ++i) before += cost[i * u + i];
      after += as.cost;
      units += static_cast<double>(u);
    }
    r.iterations = 1;
    r.objective_before = units > 0 ? before / units : 0;
    r.objective_after = units > 0 ? after / units : 0;
    apply_permutation(b, r.permutation);
  }
  r.distance_after = total_distance(a, b);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace closerlook
