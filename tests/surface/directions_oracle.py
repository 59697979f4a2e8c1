"""loss-landscape's random directions (tomgoldstein/loss-landscape, net_plotter.py), for the
directions test: the functions below are copied from net_plotter.py (weights directions, filter
normalisation, ignore biasbn), run after torch.manual_seed(seed) as plot_surface.py does, x
direction first, then y.

usage: directions_oracle.py DIR SEED N   (DIR/p<i>.npy for i < N: the parameters in
named_parameters order). Writes DIR/x.npy and DIR/y.npy: each direction flattened and concatenated.
"""
import os
import sys

try:
    import numpy as np
    import torch
except ImportError:  # the C++ test skips (or fails under CI) on this exit code
    sys.exit(77)


def get_random_weights(weights):
    return [torch.randn(w.size()) for w in weights]


def normalize_direction(direction, weights, norm='filter'):
    if norm == 'filter':
        for d, w in zip(direction, weights):
            d.mul_(w.norm() / (d.norm() + 1e-10))
    elif norm == 'layer':
        direction.mul_(weights.norm() / direction.norm())


def normalize_directions_for_weights(direction, weights, norm='filter', ignore='biasbn'):
    assert len(direction) == len(weights)
    for d, w in zip(direction, weights):
        if d.dim() <= 1:
            if ignore == 'biasbn':
                d.fill_(0)
            else:
                d.copy_(w)
        else:
            normalize_direction(d, w, norm)


def create_random_direction(weights, ignore='biasbn', norm='filter'):
    direction = get_random_weights(weights)
    normalize_directions_for_weights(direction, weights, norm, ignore)
    return direction


d, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
weights = [torch.from_numpy(np.load(os.path.join(d, f"p{i}.npy"))).float() for i in range(n)]
torch.manual_seed(seed)
x = create_random_direction(weights)
y = create_random_direction(weights)
np.save(os.path.join(d, "x.npy"), torch.cat([t.reshape(-1) for t in x]).double().numpy())
np.save(os.path.join(d, "y.npy"), torch.cat([t.reshape(-1) for t in y]).double().numpy())
