#!/usr/bin/env python3
"""Python peer of `closerlook bench train` for the vgg11-w16 workload (benchmarks.md):
the same model, batch, optimizer and step (forward + backward + SGD step) in eager PyTorch,
on random data in memory, in the default (NCHW) layout or, with --channels-last, in
closerlook's --memory-format channels-last. Prints one JSON line (with the torch version). Run with the Python
peer: ${PYTHON:-python3}, the python whose torch wheel provides closerlook's LibTorch."""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def vgg11_w16(batchnorm: bool, channels: int = 1, classes: int = 10) -> nn.Module:
    layers, c = [], channels
    for v in [16, "M", 32, "M", 64, 64, "M", 128, 128, "M", 128, 128, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers.append(nn.Conv2d(c, v, 3, padding=1))
            if batchnorm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            c = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128, 128), nn.ReLU(inplace=True),
                         nn.Linear(128, 128), nn.ReLU(inplace=True), nn.Linear(128, classes))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--no-bn", action="store_true")
    ap.add_argument("--channels-last", action="store_true",
                    help="model and input in channels-last (NHWC), like closerlook --memory-format channels-last")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = vgg11_w16(not a.no_bn)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, 1, 32, 32)
    y = torch.randint(0, 10, (a.batch,))
    if a.channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    final = loss.item()
    secs = time.perf_counter() - t0
    print(json.dumps({"workload": "train", "peer": "pytorch-eager",
                      "memory_format": "channels-last" if a.channels_last else "contiguous", "torch": torch.__version__,
                      "batchnorm": not a.no_bn, "batch": a.batch, "steps": a.steps,
                      "threads": torch.get_num_threads(), "seconds": secs,
                      "images_per_s": a.batch * a.steps / secs, "final_loss": final}))


if __name__ == "__main__":
    main()
