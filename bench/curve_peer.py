#!/usr/bin/env python3
"""Python peer of `closerlook connect` (issue 19 part 5): a Garipov-style Bezier curve
(Garipov et al. 2018, github.com/timgaripov/dnn-mode-connectivity `curves.py`) in eager PyTorch
on the vgg11-w16 workload (benchmarks.md; BN optional): every layer holds one weight (and bias)
per bend, its forward computes W(t) = sum_j c_j(t) W_j and calls the functional op, so autograd
gives each bend c_j dL/dW(t). Three bends, the endpoints fixed (requires_grad False), the
middle one trained by SGD (momentum 0.9, no weight decay of its own) on CE + 0.5 wd ||w(t)||^2
(Garipov's l2 regulariser on the point of the curve), one t ~ U(0, 1) per minibatch,
Garipov's learning-rate schedule (flat to 50%, linear to 1% at 90%), BN in train mode (batch
statistics; running statistics updated as Garipov's curve BN does, meaningless until
recalibrated). Data: `--examples` images of 1 x 32 x 32 in memory, a fresh permutation each
epoch, batches of `--batch`, no augmentation (as `closerlook connect --set data.augment=false`
on the synthetic data of bench/curve_bench.sh).

Prints one JSON line per timed epoch and a summary line: seconds per epoch (the best), images/s,
the model's training FLOPs per image (3 x the forward's 2 x MACs of conv and linear layers) and,
with --ceiling, the f32 GEMM GFLOP/s of this torch at the same threads (2048^3 torch.mm, best of 5).
Run with ${PYTHON:-python3}, the python whose torch wheel provides closerlook's LibTorch."""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VGG11_W16 = [16, "M", 32, "M", 64, 64, "M", 128, 128, "M", 128, 128, "M"]


def bezier(bends: int, t: float):
    n = bends - 1
    return [math.comb(n, j) * t**j * (1 - t) ** (n - j) for j in range(bends)]


class CurveParams(nn.Module):
    """One tensor per bend of a parameter of shape `shape` (Garipov's `CurveModule`)."""

    def __init__(self, shape, bends, fixed, init):
        super().__init__()
        self.ws = nn.ParameterList()
        for j in range(bends):
            p = nn.Parameter(init(torch.empty(shape)), requires_grad=not fixed[j])
            self.ws.append(p)

    def at(self, c):
        w = self.ws[0] * c[0]
        for j in range(1, len(self.ws)):
            w = w + self.ws[j] * c[j]
        return w


class CurveVGG(nn.Module):
    def __init__(self, bends, fixed, batchnorm, channels=1, classes=10, fc=(128, 128), size=32):
        super().__init__()
        self.bends, self.batchnorm = bends, batchnorm
        self.convs, self.bns, self.plan = nn.ModuleList(), nn.ModuleList(), []
        c = channels
        for v in VGG11_W16:
            if v == "M":
                self.plan.append("M")
                size //= 2
                continue
            self.convs.append(nn.ModuleList([CurveParams((v, c, 3, 3), bends, fixed, lambda t: nn.init.kaiming_normal_(t)),
                                             CurveParams((v,), bends, fixed, nn.init.zeros_)]))
            if batchnorm:
                self.bns.append(nn.ModuleList([CurveParams((v,), bends, fixed, nn.init.ones_),
                                               CurveParams((v,), bends, fixed, nn.init.zeros_)]))
                self.register_buffer(f"rm{len(self.bns) - 1}", torch.zeros(v))
                self.register_buffer(f"rv{len(self.bns) - 1}", torch.ones(v))
            self.plan.append("C")
            c = v
        dims = [c * size * size, *fc, classes]
        self.fcs = nn.ModuleList()
        for a, b in zip(dims[:-1], dims[1:]):
            self.fcs.append(nn.ModuleList([CurveParams((b, a), bends, fixed, lambda t: nn.init.normal_(t, 0, 0.01)),
                                           CurveParams((b,), bends, fixed, nn.init.zeros_)]))

    def forward(self, x, c):
        sq = []  # ||w(t)||^2 terms (Garipov's l2_regularizer reads the layers' current weights)
        k = 0
        for step in self.plan:
            if step == "M":
                x = F.max_pool2d(x, 2, 2)
                continue
            w, b = self.convs[k][0].at(c), self.convs[k][1].at(c)
            sq += [w, b]
            x = F.conv2d(x, w, b, padding=1)
            if self.batchnorm:
                g, beta = self.bns[k][0].at(c), self.bns[k][1].at(c)
                sq += [g, beta]
                x = F.batch_norm(x, getattr(self, f"rm{k}"), getattr(self, f"rv{k}"), g, beta, training=True)
            x = F.relu(x, inplace=True)
            k += 1
        x = x.flatten(1)
        for i, (wm, bm) in enumerate(self.fcs):
            w, b = wm.at(c), bm.at(c)
            sq += [w, b]
            x = F.linear(x, w, b)
            if i + 1 < len(self.fcs):
                x = F.relu(x, inplace=True)
        return x, sq


def train_flops_per_image(batchnorm, channels=1, size=32, classes=10, fc=(128, 128)):
    """3 x (2 x MACs) of the forward's conv and linear layers (backward = 2 x forward)."""
    macs, c = 0, channels
    for v in VGG11_W16:
        if v == "M":
            size //= 2
            continue
        macs += size * size * v * c * 9
        c = v
    dims = [c * size * size, *fc, classes]
    macs += sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    return 3 * 2 * macs


def gemm_ceiling(threads, n=2048, reps=5):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def garipov_lr(base, epoch, total):
    a = epoch / total
    return base if a <= 0.5 else (base * (1 - 0.99 * (a - 0.5) / 0.4) if a <= 0.9 else base * 0.01)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--examples", type=int, default=3840)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=1, help="timed epochs (the schedule spans them)")
    ap.add_argument("--warmup-steps", type=int, default=3, help="untimed steps before the first epoch")
    ap.add_argument("--lr", type=float, default=0.015)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--no-bn", action="store_true")
    ap.add_argument("--ceiling", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    bends, fixed = 3, [True, False, True]
    net = CurveVGG(bends, fixed, not a.no_bn)
    with torch.no_grad():  # the middle bend on the chord, as closerlook's Curve::on_line
        for m in net.modules():
            if isinstance(m, CurveParams):
                m.ws[1].copy_(0.5 * (m.ws[0] + m.ws[2]))
    free = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(free, lr=a.lr, momentum=0.9, weight_decay=0.0)
    g = torch.Generator().manual_seed(2)
    x_all = torch.randn(a.examples, 1, 32, 32, generator=g)
    y_all = torch.randint(0, 10, (a.examples,), generator=g)

    def step(x, y, t):
        c = bezier(bends, t)
        opt.zero_grad(set_to_none=True)
        logits, sq = net(x, c)
        nll = F.cross_entropy(logits, y)
        loss = nll + 0.5 * a.wd * sum(w.pow(2).sum() for w in sq)
        loss.backward()
        opt.step()
        return loss

    for i in range(a.warmup_steps):
        step(x_all[: a.batch], y_all[: a.batch], torch.rand((), generator=g).item())
    nb = (a.examples + a.batch - 1) // a.batch
    times = []
    for e in range(1, a.epochs + 1):
        for grp in opt.param_groups:
            grp["lr"] = garipov_lr(a.lr, e, a.epochs)
        perm = torch.randperm(a.examples, generator=g)
        t0 = time.perf_counter()
        for b in range(nb):
            idx = perm[b * a.batch:(b + 1) * a.batch]
            if idx.numel() < 2:
                continue
            loss = step(x_all.index_select(0, idx), y_all.index_select(0, idx), torch.rand((), generator=g).item())
        final = loss.item()
        times.append(time.perf_counter() - t0)
        print(json.dumps({"epoch": e, "seconds": times[-1], "loss": final}))
    best = min(times)
    flops = train_flops_per_image(not a.no_bn)
    out = {"workload": "curve", "peer": "pytorch-eager-garipov", "torch": torch.__version__,
           "batchnorm": not a.no_bn, "bends": bends, "batch": a.batch, "examples": a.examples,
           "threads": torch.get_num_threads(), "epoch_seconds": best, "images_per_s": a.examples / best,
           "train_flops_per_image": flops, "gflops": a.examples / best * flops / 1e9}
    if a.ceiling:
        out["gemm_f32_gflops"] = gemm_ceiling(a.threads)
        out["fraction_of_ceiling"] = out["gflops"] / out["gemm_f32_gflops"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
