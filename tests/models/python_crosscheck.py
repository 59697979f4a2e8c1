"""Cross-checks a closerlook checkpoint (VGG, ResNet or MLP) against an independent eager PyTorch model.

usage: python_crosscheck.py CHECKPOINT INPUT.npy SEED OUTDIR [CHECKPOINT INPUT.npy SEED OUTDIR ...]
(one Python start for several checks: importing torch costs seconds)
Writes OUTDIR/names.txt ("P name" / "B name" per line, checkpoint order), OUTDIR/t<i>.npy (each
tensor), OUTDIR/logits.npy (eager model in eval mode with the checkpoint's state_dict on INPUT),
and OUTDIR/init<i>.npy (the eager model's parameters after torch.manual_seed(SEED) and the
paper's init loop), so the C++ test can compare names, values, forward and init draw by draw.
"""
import math
import re
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError:  # the C++ test skips on this exit code
    sys.exit(77)

CFG = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


class VGG(nn.Module):
    def __init__(self, layout, width, bn, fc, dropout, in_ch, size, classes):
        super().__init__()
        layers, c = [], in_ch
        for v in CFG[layout]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                size //= 2
            else:
                out = max(1, int(round(v * width)))
                layers.append(nn.Conv2d(c, out, 3, padding=1))
                if bn:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.ReLU())
                c = out
        self.features = nn.Sequential(*layers)
        head, n = [], c * size * size
        for h in fc:
            if dropout > 0:
                head.append(nn.Dropout(dropout))
            head += [nn.Linear(n, h), nn.ReLU()]
            n = h
        head.append(nn.Linear(n, classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):  # kuangliu/pytorch-cifar
    def __init__(self, cin, cout, stride, bn):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=not bn)
        self.bn1 = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=not bn)
        self.bn2 = nn.BatchNorm2d(cout) if bn else nn.Identity()
        sc = []
        if stride != 1 or cin != cout:
            sc.append(nn.Conv2d(cin, cout, 1, stride, bias=not bn))
            if bn:
                sc.append(nn.BatchNorm2d(cout))
        self.shortcut = nn.Sequential(*sc)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


RESNETS = {"resnet8": ([16, 32, 64], [1, 1, 1]), "resnet20": ([16, 32, 64], [3, 3, 3]),
           "resnet18": ([64, 128, 256, 512], [2, 2, 2, 2])}


class ResNet(nn.Module):
    def __init__(self, layout, width, bn, in_ch, classes):
        super().__init__()
        chans, blocks = RESNETS[layout]
        chans = [max(1, int(round(c * width))) for c in chans]
        self.conv1 = nn.Conv2d(in_ch, chans[0], 3, 1, 1, bias=not bn)
        self.bn1 = nn.BatchNorm2d(chans[0]) if bn else nn.Identity()
        cin = chans[0]
        for s, (c, n) in enumerate(zip(chans, blocks)):
            layer = []
            for b in range(n):
                layer.append(BasicBlock(cin, c, 2 if (b == 0 and s > 0) else 1, bn))
                cin = c
            setattr(self, f"layer{s + 1}", nn.Sequential(*layer))
        self.nstages = len(chans)
        self.linear = nn.Linear(cin, classes)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        for s in range(self.nstages):
            out = getattr(self, f"layer{s + 1}")(out)
        return self.linear(torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1))


class MLP(nn.Module):
    def __init__(self, hidden, bn, in_features, classes):
        super().__init__()
        layers, n = [], in_features
        for h in hidden:
            layers.append(nn.Linear(n, h))
            if bn:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU())
            n = h
        layers.append(nn.Linear(n, classes))
        self.classifier = nn.Sequential(*layers)

    def forward(self, x):
        return self.classifier(torch.flatten(x, 1))


def ints(text):
    return [int(v) for v in text.split(",") if v]


def model_for(arch):
    """An eager model for a closerlook arch() string, parsed independently of the C++ code."""
    io = re.search(r"in=(\d+)x(\d+)x\d+ classes=(\d+)$", arch)
    in_ch, size, classes = int(io.group(1)), int(io.group(2)), int(io.group(3))
    g = re.match(r"(vgg\d+) w=(\S+) bn=(\d) fc=\[([\d,]*)\] drop=(\S+) ", arch)
    if g:
        return VGG(g.group(1), float(g.group(2)), g.group(3) == "1", ints(g.group(4)), float(g.group(5)),
                   in_ch, size, classes)
    g = re.match(r"(resnet\d+) w=(\S+) bn=(\d) ", arch)
    if g:
        return ResNet(g.group(1), float(g.group(2)), g.group(3) == "1", in_ch, classes)
    g = re.match(r"mlp hidden=\[([\d,]*)\] bn=(\d) ", arch)
    return MLP(ints(g.group(1)), g.group(2) == "1", in_ch * size * size, classes)


def paper_init(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def check(ckpt, inp, seed, out):
    m = torch.jit.load(ckpt, map_location="cpu")
    arch = m.closerlook_arch
    state = {}
    with open(f"{out}/names.txt", "w") as f:
        i = 0
        for kind, items in (("P", m.named_parameters()), ("B", m.named_buffers())):
            for name, t in items:
                f.write(f"{kind} {name}\n")
                np.save(f"{out}/t{i}.npy", t.detach().numpy())
                state[name] = t.detach()
                i += 1

    eager = model_for(arch)
    eager.load_state_dict(state, strict=True)
    eager.eval()
    with torch.no_grad():
        np.save(f"{out}/logits.npy", eager(torch.from_numpy(np.load(inp))).numpy())

    fresh = model_for(arch)
    torch.manual_seed(seed)
    paper_init(fresh)
    for i, (_, p) in enumerate(fresh.named_parameters()):
        np.save(f"{out}/init{i}.npy", p.detach().numpy())
    print("ok", arch)


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or len(args) % 4:
        sys.exit(__doc__)
    for i in range(0, len(args), 4):
        check(args[i], args[i + 1], int(args[i + 2]), args[i + 3])
