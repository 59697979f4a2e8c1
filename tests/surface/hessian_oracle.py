"""Exact Hessian oracle for the curvature test: an MLP (Linear, ReLU, ..., Linear) given by its
parameters, mean cross-entropy on X, y; the Hessian w.r.t. all parameters (concatenated in the
given order) by torch.autograd.functional.hessian in float64.

usage: hessian_oracle.py DIR   (DIR/x.npy, DIR/y.npy, DIR/p<i>.npy for i = 0..; weights [out, in]
then bias, layer by layer). Writes DIR/oracle.json: {"eigenvalues": all, descending, "trace",
"blocks": [{"eigenvalues", "trace"}] for each (weight, bias) layer}.
"""
import json
import os
import sys

try:
    import numpy as np
    import torch
except ImportError:  # the C++ test skips (or fails under CI) on this exit code
    sys.exit(77)

d = sys.argv[1]
x = torch.from_numpy(np.load(os.path.join(d, "x.npy"))).double().flatten(1)
y = torch.from_numpy(np.load(os.path.join(d, "y.npy"))).long()
ps = []
i = 0
while os.path.exists(os.path.join(d, f"p{i}.npy")):
    ps.append(torch.from_numpy(np.load(os.path.join(d, f"p{i}.npy"))).double())
    i += 1
shapes = [p.shape for p in ps]
sizes = [p.numel() for p in ps]


def loss(flat):
    parts = torch.split(flat, sizes)
    h = x
    layers = len(ps) // 2
    for k in range(layers):
        w = parts[2 * k].view(shapes[2 * k])
        b = parts[2 * k + 1].view(shapes[2 * k + 1])
        h = h @ w.T + b
        if k + 1 < layers:
            h = torch.relu(h)
    return torch.nn.functional.cross_entropy(h, y)


flat = torch.cat([p.flatten() for p in ps])
H = torch.autograd.functional.hessian(loss, flat)
H = 0.5 * (H + H.T)
out = {"eigenvalues": torch.linalg.eigvalsh(H).flip(0).tolist(), "trace": H.trace().item(), "blocks": []}
off = 0
for k in range(len(ps) // 2):
    n = sizes[2 * k] + sizes[2 * k + 1]
    B = H[off:off + n, off:off + n]
    out["blocks"].append({"eigenvalues": torch.linalg.eigvalsh(B).flip(0).tolist(), "trace": B.trace().item()})
    off += n
json.dump(out, open(os.path.join(d, "oracle.json"), "w"))
