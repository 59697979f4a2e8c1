"""Cross-checks a closerlook VGG checkpoint against an independent eager PyTorch model.

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


def paper_init(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def check(ckpt, inp, seed, out):
    m = torch.jit.load(ckpt, map_location="cpu")
    arch = m.closerlook_arch
    g = re.match(r"(vgg\d+) w=(\S+) bn=(\d) fc=\[([\d,]*)\] drop=(\S+) in=(\d+)x(\d+)x\d+ classes=(\d+)$", arch)
    layout, width, bn = g.group(1), float(g.group(2)), g.group(3) == "1"
    fc = [int(v) for v in g.group(4).split(",") if v]
    dropout, in_ch, size, classes = float(g.group(5)), int(g.group(6)), int(g.group(7)), int(g.group(8))

    state = {}
    with open(f"{out}/names.txt", "w") as f:
        i = 0
        for kind, items in (("P", m.named_parameters()), ("B", m.named_buffers())):
            for name, t in items:
                f.write(f"{kind} {name}\n")
                np.save(f"{out}/t{i}.npy", t.detach().numpy())
                state[name] = t.detach()
                i += 1

    eager = VGG(layout, width, bn, fc, dropout, in_ch, size, classes)
    eager.load_state_dict(state, strict=True)
    eager.eval()
    with torch.no_grad():
        np.save(f"{out}/logits.npy", eager(torch.from_numpy(np.load(inp))).numpy())

    fresh = VGG(layout, width, bn, fc, dropout, in_ch, size, classes)
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
