#!/usr/bin/env python3
"""Reproduces the LibTorch (2.15, CPU) channels-last bug that makes closerlook keep ResNets
contiguous: the weight gradient of a strided 1x1 convolution with few input channels.

Each shape runs in its own process, since the bad ones may hang or segfault instead of
returning a wrong answer. Prints one line per shape: the relative error of the channels-last
weight gradient against the contiguous one (3 repeats), or how the process died.
    python3 bench/onednn_1x1_bug.py [threads]
"""
import subprocess
import sys

CHILD = r"""
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
cin, cout, hw, stride = map(int, sys.argv[2:6])
g = torch.Generator().manual_seed(1)
x = torch.randn(32, cin, hw, hw, generator=g)
w = torch.randn(cout, cin, 1, 1, generator=g)
def grad_w(fmt):
    ww = w.contiguous(memory_format=fmt).requires_grad_()
    y = torch.conv2d(x.contiguous(memory_format=fmt), ww, stride=stride)
    go = torch.arange(y.numel(), dtype=y.dtype).reshape(y.shape).sin()
    return torch.autograd.grad((y * go).sum(), [ww])[0]
ref = grad_w(torch.contiguous_format)
print(" ".join("%.1e" % float((grad_w(torch.channels_last) - ref).abs().max() / ref.abs().max()) for _ in range(3)))
"""

SHAPES = [(2, 8, 32, 2), (4, 8, 32, 2), (6, 8, 32, 2), (8, 16, 16, 2), (16, 32, 8, 2),
          (4, 8, 32, 1), (4, 8, 32, 3)]

def main():
    threads = sys.argv[1] if len(sys.argv) > 1 else "2"
    import torch
    print(f"torch {torch.__version__}, {threads} threads; cin cout hw stride: rel. error x3")
    for shape in SHAPES:
        args = [sys.executable, "-c", CHILD, threads, *map(str, shape)]
        try:
            r = subprocess.run(args, capture_output=True, text=True, timeout=30)
            out = r.stdout.strip() if r.returncode == 0 else f"died (exit {r.returncode})"
        except subprocess.TimeoutExpired:
            out = "hung (killed after 30 s)"
        print(*shape, ":", out, flush=True)

if __name__ == "__main__":
    main()
