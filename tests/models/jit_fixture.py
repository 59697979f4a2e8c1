"""Python side of the TorchScript tests (tests/models/jit_*_test.cpp), run with the Python peer
(CL_PYTHON, default `python3` on PATH: the python whose torch wheel provides LibTorch).

  jit_fixture.py make DIR
      Writes a small learnable NPY dataset (DIR/data), scripts a small CNN with BatchNorm, trains
      two copies briefly with different seeds on it (DIR/a.pt, DIR/b.pt), and writes:
        DIR/c.pt        the same class at another width (a different architecture)
        DIR/seq.pt      a scripted nn.Sequential (probe names "0", "1", "3.0", ...)
        DIR/probed.pt   a module with a scripted probes(x) -> Dict[str, Tensor] method
        DIR/traced.pt   a.pt's network traced in eval mode (BN frozen in eval behaviour)
        DIR/oracle.json independent PyTorch oracles:
          "line": test NLL / error at t = 0, 0.5, 1 on the straight line between a and b, with
                  BN statistics recomputed over the whole training set in one batch (mean and
                  unbiased variance), as closerlook's interpolate computes them;
          "probes": the names and shapes of a.pt's activations for the first 8 test images;
          "torch": the torch version that wrote the files.
        DIR/probe_acts_a/<name>.npy  a.pt's activations (eval mode) at those probes.
  jit_fixture.py logits CKPT INPUT.npy OUT.npy
      torch.jit.load(CKPT), eval(), logits of INPUT.npy -> OUT.npy; prints the stored arch.
Exit code 77 when torch or numpy is missing.
"""
import json
import os
import sys
import warnings

try:
    import numpy as np
    import torch
    import torch.nn as nn
    from typing import Dict
except ImportError:
    sys.exit(77)

# torch 2.x marks torch.jit.script/trace deprecated (FutureWarning); they still write the
# TorchScript archives that closerlook's LibTorch loads, which is what these tests are about.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
torch.set_num_threads(1)
N_TRAIN, N_TEST, SIZE, CLASSES = 256, 128, 12, 4


class SmallCNN(nn.Module):
    def __init__(self, width: int = 4, classes: int = CLASSES):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
            nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Linear(2 * width * 3 * 3, 16), nn.ReLU(), nn.Linear(16, classes))

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


class ProbedCNN(SmallCNN):
    @torch.jit.export
    def probes(self, x) -> Dict[str, torch.Tensor]:
        h = self.features(x)
        f = torch.flatten(h, 1)
        hidden = self.classifier[1](self.classifier[0](f))
        return {"features": h, "hidden": hidden, "logits": self.classifier[2](hidden)}


def make_data(root):
    """Class k: a bright 4x4 square in quadrant k, on noise. uint8 images, int64 labels."""
    rng = np.random.default_rng(0)
    os.makedirs(root, exist_ok=True)
    out = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        y = rng.integers(0, CLASSES, size=n).astype(np.int64)
        x = rng.integers(0, 160, size=(n, 1, SIZE, SIZE)).astype(np.float64)
        for i, k in enumerate(y):
            r, c = 1 + 6 * (k // 2) + rng.integers(0, 2), 1 + 6 * (k % 2) + rng.integers(0, 2)
            x[i, 0, r:r + 3, c:c + 3] += 45
        x = np.clip(x, 0, 255).astype(np.uint8)
        np.save(os.path.join(root, split + "_images.npy"), x)
        np.save(os.path.join(root, split + "_labels.npy"), y)
        out[split] = (x, y)
    # closerlook's NPY normalisation: pixel/255, population mean/std of the whole training set.
    xtr = out["train"][0].astype(np.float64) / 255.0
    mean, std = xtr.mean(), xtr.std()
    norm = lambda x: torch.from_numpy(((x.astype(np.float64) / 255.0 - mean) / std).astype(np.float32))
    return {s: (norm(x), torch.from_numpy(y)) for s, (x, y) in out.items()}


def train(model, data, seed, epochs=3):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = data["train"]
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model


def line_oracle(a, b, data):
    """Test NLL/error at t on the line between a and b, BN recomputed over the training set."""
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    res = {"t": [], "te_nll": [], "te_err": []}
    for t in (0.0, 0.5, 1.0):
        m = SmallCNN()
        with torch.no_grad():
            for name, p in m.named_parameters():
                p.copy_((1 - t) * pa[name] + t * pb[name])
            for mod in m.modules():
                if isinstance(mod, nn.BatchNorm2d):
                    mod.reset_running_stats()
                    mod.momentum = 1.0  # one batch of all training examples: its mean / unbiased var
            m.train()
            m(data["train"][0])
            m.eval()
            out = m(data["test"][0])
            res["t"].append(t)
            res["te_nll"].append(nn.functional.cross_entropy(out, data["test"][1]).item())
            res["te_err"].append((out.argmax(1) != data["test"][1]).double().mean().item())
    return res


def make(root):
    data = make_data(os.path.join(root, "data"))
    eager = {}
    for name, seed in (("a", 1), ("b", 2)):
        torch.manual_seed(seed)
        eager[name] = train(SmallCNN(), data, seed)
        torch.jit.script(eager[name]).save(os.path.join(root, name + ".pt"))
    torch.manual_seed(3)
    torch.jit.script(SmallCNN(width=6)).save(os.path.join(root, "c.pt"))
    torch.manual_seed(4)
    seq = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                        nn.Sequential(nn.Conv2d(3, 2, 3, stride=2), nn.ReLU()), nn.Flatten(), nn.Linear(2 * 5 * 5, CLASSES))
    torch.jit.script(seq).save(os.path.join(root, "seq.pt"))
    torch.manual_seed(5)
    probed = ProbedCNN()
    probed.load_state_dict(eager["a"].state_dict())
    torch.jit.script(probed).save(os.path.join(root, "probed.pt"))
    eager["a"].eval()
    torch.jit.trace(eager["a"], data["test"][0][:4]).save(os.path.join(root, "traced.pt"))

    # a's activations at a few probe points (eval mode), straight from the eager model.
    x8 = data["test"][0][:8]
    acts = {}
    with torch.no_grad():
        f = eager["a"].features
        h = x8
        for i, layer in enumerate(f):
            h = layer(h.clone())  # a copy in: ReLU(inplace=True) must not change the stored output
            acts["features.%d" % i] = h
        acts["features"] = h
        c = eager["a"].classifier
        z = torch.flatten(h, 1)
        for i, layer in enumerate(c):
            z = layer(z.clone())
            acts["classifier.%d" % i] = z
        acts["classifier"] = z
        acts["logits"] = z
    adir = os.path.join(root, "probe_acts_a")
    os.makedirs(adir, exist_ok=True)
    np.save(os.path.join(root, "probe_input.npy"), x8.numpy())
    for k, v in acts.items():
        np.save(os.path.join(adir, k + ".npy"), v.numpy())
    test_acc = {}
    with torch.no_grad():
        for k, m in eager.items():
            m.eval()
            test_acc[k] = (m(data["test"][0]).argmax(1) == data["test"][1]).double().mean().item()
    oracle = {"line": line_oracle(eager["a"], eager["b"], data),
              "probes": {k: list(v.shape) for k, v in acts.items()},
              "test_acc": test_acc,
              "torch": torch.__version__}
    with open(os.path.join(root, "oracle.json"), "w") as fh:
        json.dump(oracle, fh, indent=1)


def logits(ckpt, inp, out):
    extra = {"closerlook_arch": ""}
    m = torch.jit.load(ckpt, map_location="cpu", _extra_files=extra)
    m.eval()
    with torch.no_grad():
        y = m(torch.from_numpy(np.load(inp)))
    np.save(out, y.numpy())
    arch = extra["closerlook_arch"]  # torch 2.x returns the extra files' contents as bytes
    print(arch.decode() if isinstance(arch, bytes) else arch)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "logits":
        logits(*sys.argv[2:5])
    else:
        sys.exit("usage: jit_fixture.py make DIR | logits CKPT INPUT.npy OUT.npy")
