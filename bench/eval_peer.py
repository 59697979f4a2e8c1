#!/usr/bin/env python3
"""Python peer of bench/eval_bench.cpp (issue 19 part 2): the evaluation of one point in eager
PyTorch, as a Python user would write it. BN recalibration (Garipov's update_bn: running
statistics reset, momentum=None, train mode, no_grad) over the first --bn images of perm.npy,
then model.eval() + torch.no_grad() cross-entropy and error counts over the train images
(perm[:--train], or all in their own order) and all test images, in batches of --batch. Twice:
default layout, and channels-last (model and data converted once, outside the timer). The
weights are closerlook's checkpoint (torch.jit.load), the data its .npy files, so the values
compare. Prints one JSON line: seconds per side, values, torch version."""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def vgg11_w16() -> nn.Module:
    # closerlook's VggNet layout and names: features.<i>, classifier.<i> (FC 128-128-10).
    layers, c = [], 1
    for v in [16, "M", 32, "M", 64, 64, "M", 128, 128, "M", 128, 128, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            c = v
    net = nn.Module()
    net.features = nn.Sequential(*layers)
    net.classifier = nn.Sequential(nn.Linear(128, 128), nn.ReLU(inplace=True), nn.Linear(128, 128),
                                   nn.ReLU(inplace=True), nn.Linear(128, 10))
    net.forward = lambda x: net.classifier(torch.flatten(net.features(x), 1))
    return net


def load(path: str) -> nn.Module:
    src = torch.jit.load(path, map_location="cpu")
    state = {k: v for k, v in list(src.named_parameters()) + list(src.named_buffers())}
    net = vgg11_w16()
    missing = net.load_state_dict(state, strict=False)
    assert not missing.missing_keys, missing.missing_keys
    return net


def evaluate(net, bn_x, tr_x, tr_y, te_x, te_y, batch):
    # BN recalibration (update_bn)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    net.train()
    with torch.no_grad():
        for i in range(0, bn_x.shape[0], batch):
            net(bn_x[i:i + batch])
    net.eval()
    out = {}
    with torch.no_grad():
        for name, x, y in (("tr", tr_x, tr_y), ("te", te_x, te_y)):
            loss, wrong = 0.0, 0
            for i in range(0, x.shape[0], batch):
                logits = net(x[i:i + batch])
                yy = y[i:i + batch]
                loss += F.cross_entropy(logits, yy, reduction="sum").item()
                wrong += int((logits.argmax(1) != yy).sum())
            out[name + "_nll"] = loss / x.shape[0]
            out[name + "_wrong"] = wrong
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--bn", type=int, required=True)
    ap.add_argument("--train", type=int, required=True)
    ap.add_argument("--batch", type=int, default=128)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    d = a.dir
    trx = torch.from_numpy(np.load(f"{d}/train_x.npy"))
    try_ = torch.from_numpy(np.load(f"{d}/train_y.npy"))
    tex = torch.from_numpy(np.load(f"{d}/test_x.npy"))
    tey = torch.from_numpy(np.load(f"{d}/test_y.npy"))
    perm = torch.from_numpy(np.load(f"{d}/perm.npy"))
    n = trx.shape[0]
    bi = perm[:a.bn] if a.bn < n else torch.arange(n)
    ti = perm[:a.train] if a.train < n else torch.arange(n)
    bn_x, tr_x, tr_y = trx[bi].contiguous(), trx[ti].contiguous(), try_[ti].contiguous()
    res = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    net = load(f"{d}/net.pt")
    evaluate(net, bn_x[:a.batch * 2], tr_x[:a.batch], tr_y[:a.batch], tex[:a.batch], tey[:a.batch], a.batch)  # warm-up
    t0 = time.perf_counter()
    res["values"] = evaluate(net, bn_x, tr_x, tr_y, tex, tey, a.batch)
    res["eager_s"] = time.perf_counter() - t0
    cl = torch.channels_last
    net = load(f"{d}/net.pt").to(memory_format=cl)
    bn_c, tr_c, te_c = (t.contiguous(memory_format=cl) for t in (bn_x, tr_x, tex))
    evaluate(net, bn_c[:a.batch * 2], tr_c[:a.batch], tr_y[:a.batch], te_c[:a.batch], tey[:a.batch], a.batch)
    t0 = time.perf_counter()
    res["values_channels_last"] = evaluate(net, bn_c, tr_c, tr_y, te_c, tey, a.batch)
    res["channels_last_s"] = time.perf_counter() - t0
    print(json.dumps(res))


if __name__ == "__main__":
    main()
