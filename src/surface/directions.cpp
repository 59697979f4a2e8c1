#include "surface/directions.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace closerlook {

DirectionNorm parse_direction_norm(const std::string& s) {
  if (s == "filter") return DirectionNorm::Filter;
  if (s == "layer") return DirectionNorm::Layer;
  if (s == "none") return DirectionNorm::None;
  throw_bad_input("plane: --norm '" + s + "': expected filter, layer or none");
}

DirectionIgnore parse_direction_ignore(const std::string& s) {
  if (s == "biasbn") return DirectionIgnore::BiasBn;
  if (s == "none") return DirectionIgnore::None;
  throw_bad_input("plane: --ignore '" + s + "': expected biasbn or none");
}

std::string to_string(DirectionNorm n) {
  switch (n) {
    case DirectionNorm::Filter: return "filter";
    case DirectionNorm::Layer: return "layer";
    case DirectionNorm::None: return "none";
  }
  return "?";
}

std::string to_string(DirectionIgnore i) { return i == DirectionIgnore::BiasBn ? "biasbn" : "none"; }

torch::Tensor normalize_direction(const torch::Tensor& d, const torch::Tensor& w, DirectionNorm norm,
                                  DirectionIgnore ignore) {
  CL_CHECK_INPUT(d.sizes().equals(w.sizes()), "directions: a direction and its weight differ in shape");
  auto wd = w.detach().to(torch::kFloat64);
  if (w.dim() <= 1) {  // biases, BN affine (net_plotter.normalize_directions_for_weights)
    return ignore == DirectionIgnore::BiasBn ? torch::zeros_like(wd) : wd.clone();
  }
  auto out = d.detach().to(torch::kFloat64).clone();
  if (norm == DirectionNorm::Filter) {
    // Every slice along dim 0 (a conv output filter, a linear output row).
    auto of = out.reshape({out.size(0), -1}), wf = wd.reshape({wd.size(0), -1});
    auto scale = wf.norm(2, {1}, true) / (of.norm(2, {1}, true) + 1e-10);
    of.mul_(scale);  // `of` is a view of `out` (contiguous clone)
  } else if (norm == DirectionNorm::Layer) {
    out.mul_(wd.norm() / out.norm());
  }
  return out;
}

nlohmann::json RandomDirections::to_json(const RandomDirectionOptions& o) const {
  return {{"kind", "random"},
          {"seed", o.seed},
          {"norm", to_string(o.norm)},
          {"ignore", to_string(o.ignore)},
          {"draw", "torch.randn per parameter tensor (float32, CPU generator seeded with seed), d1 then d2"},
          {"d1_norm", norm1},
          {"d2_norm", norm2},
          {"weight_norm", weight_norm},
          {"cosine_d1_d2", cosine},
          {"zeroed_tensors", zeroed_tensors}};
}

RandomDirections random_directions(const std::vector<torch::Tensor>& weights, const RandomDirectionOptions& o) {
  CL_CHECK_INPUT(!weights.empty(), "directions: the network has no parameters");
  auto gen = at::detail::createCPUGenerator(o.seed);
  const auto device = weights.front().device();
  auto one = [&](int64_t* zeroed) {
    std::vector<torch::Tensor> parts;
    std::vector<torch::Tensor> draws;  // every tensor drawn first (get_random_weights), then normalised
    for (const auto& w : weights) draws.push_back(torch::randn(w.sizes(), gen, torch::kFloat32));
    for (size_t k = 0; k < weights.size(); ++k) {
      const auto& w = weights[k];
      if (w.dim() <= 1 && o.ignore == DirectionIgnore::BiasBn) ++*zeroed;
      parts.push_back(normalize_direction(draws[k], w.detach().cpu(), o.norm, o.ignore).reshape({-1}));
    }
    return torch::cat(parts).to(device);
  };
  RandomDirections r;
  int64_t z1 = 0, z2 = 0;
  r.d1 = one(&z1);
  r.d2 = one(&z2);
  r.zeroed_tensors = z1;
  r.norm1 = r.d1.norm().item<double>();
  r.norm2 = r.d2.norm().item<double>();
  std::vector<torch::Tensor> flat;
  for (const auto& w : weights) flat.push_back(w.detach().to(torch::kFloat64).reshape({-1}));
  r.weight_norm = torch::cat(flat).norm().item<double>();
  CL_CHECK_INPUT(r.norm1 > 0 && r.norm2 > 0 && std::isfinite(r.norm1) && std::isfinite(r.norm2),
                 "directions: a random direction is zero or not finite (every parameter 1-D with ignore biasbn, or "
                 "zero weights)");
  r.cosine = r.d1.dot(r.d2).item<double>() / (r.norm1 * r.norm2);
  return r;
}

nlohmann::json PcaDirections::to_json(const PcaOptions& o) const {
  return {{"kind", "pca"},
          {"rows", rows},
          {"centred", true},
          {"explained_variance", {explained_variance[0], explained_variance[1]}},
          {"explained_variance_ratio", {explained_variance_ratio[0], explained_variance_ratio[1]}},
          {"singular_values", {singular_values[0], singular_values[1]}},
          {"total_variance", total_variance},
          {"gram_block", o.block},
          {"checkpoint_loads", loads},
          {"sign", "sklearn >= 1.5 (largest-magnitude entry of each component positive)"}};
}

PcaDirections trajectory_pca(const TrajectorySource& src, const torch::Tensor& final_w, const PcaOptions& o) {
  const int64_t T = src.size;
  CL_CHECK_INPUT(T >= 3, "plane --directions pca: the trajectory needs at least 3 checkpoints, got " + std::to_string(T));
  CL_CHECK_INPUT(o.block >= 1, "plane: the PCA Gram block must be >= 1");
  CL_CHECK_INPUT(final_w.dim() == 1, "plane: the final weights must be a flat vector");
  const auto wT = final_w.to(torch::kFloat64);
  PcaDirections r;
  r.rows = T;
  auto row = [&](int64_t t) {
    auto w = src.load(t);
    ++r.loads;
    CL_CHECK_INPUT(w.dim() == 1 && w.numel() == wT.numel(),
                   "plane: trajectory checkpoint " + std::to_string(t) + " has " + std::to_string(w.numel()) +
                       " parameters, the final one " + std::to_string(wT.numel()));
    return w.to(wT.device(), torch::kFloat64) - wT;
  };

  // 1. The Gram matrix G[i][j] = r_i . r_j, a block of rows held against the rest streamed.
  auto G = torch::zeros({T, T}, torch::kFloat64);
  auto g = G.accessor<double, 2>();
  for (int64_t b0 = 0; b0 < T; b0 += o.block) {
    const int64_t b1 = std::min<int64_t>(T, b0 + o.block);
    std::vector<torch::Tensor> held;
    for (int64_t i = b0; i < b1; ++i) {
      held.push_back(row(i));
      for (int64_t k = b0; k <= i; ++k) g[i][k] = g[k][i] = held[k - b0].dot(held.back()).item<double>();
    }
    for (int64_t j = b1; j < T; ++j) {
      const auto rj = row(j);
      for (int64_t i = b0; i < b1; ++i) g[i][j] = g[j][i] = held[i - b0].dot(rj).item<double>();
    }
  }
  // 2. Centred Gram K = H G H (H = I - 11^T/T): the Gram matrix of the rows minus their mean.
  const auto rm = G.mean(1, true), cm = G.mean(0, true);
  const auto K = G - rm - cm + G.mean();
  const auto [evals, evecs] = torch::linalg_eigh(0.5 * (K + K.t()));  // ascending
  const double l1 = evals[T - 1].item<double>(), l2 = evals[T - 2].item<double>();
  const double trace = K.trace().item<double>();
  CL_CHECK_INPUT(l1 > 0 && l2 > 1e-12 * l1,
                 "plane --directions pca: the trajectory's centred iterates span fewer than 2 dimensions");
  const auto a1 = evecs.select(1, T - 1).contiguous(), a2 = evecs.select(1, T - 2).contiguous();
  // 3. pc_k = sum_t a_k[t] (r_t - mean) / sqrt(lambda_k), streamed.
  auto acc1 = torch::zeros_like(wT), acc2 = torch::zeros_like(wT), mean = torch::zeros_like(wT);
  for (int64_t t = 0; t < T; ++t) {
    const auto rt = row(t);
    acc1.add_(rt, a1[t].item<double>());
    acc2.add_(rt, a2[t].item<double>());
    mean.add_(rt, 1.0 / double(T));
  }
  acc1.sub_(mean, a1.sum().item<double>());
  acc2.sub_(mean, a2.sum().item<double>());
  mean = torch::Tensor();
  acc1.div_(std::sqrt(l1));
  acc2.div_(std::sqrt(l2));
  // Exactly orthonormal for the projections (corrections of the order of rounding).
  acc1.div_(acc1.norm());
  acc2.sub_(acc1, acc2.dot(acc1).item<double>());
  acc2.div_(acc2.norm());
  for (auto* pc : {&acc1, &acc2}) {
    const auto k = pc->abs().argmax().item<int64_t>();
    if ((*pc)[k].item<double>() < 0) pc->neg_();
  }
  r.pc1 = acc1;
  r.pc2 = acc2;
  r.explained_variance[0] = l1 / double(T - 1);
  r.explained_variance[1] = l2 / double(T - 1);
  r.total_variance = trace / double(T - 1);
  r.explained_variance_ratio[0] = l1 / trace;
  r.explained_variance_ratio[1] = l2 / trace;
  r.singular_values[0] = std::sqrt(l1);
  r.singular_values[1] = std::sqrt(l2);
  return r;
}

}  // namespace closerlook
