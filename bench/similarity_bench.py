#!/usr/bin/env python3
"""The "similarity" benchmark of benchmarks.md: closerlook against straightforward numpy.

For each width p: random X_i (N x p, float32) and Y_i = X_i A_i + noise (i = 0..7) are written
to a temporary folder; the C++ side (bench/similarity_bench.cpp) and the numpy peers below run on
the same files with the same thread count, and the values are compared.

Peers (the same formulas as closerlook, written the obvious way):
  pair:  CCA via QR of each centred side; SVCCA-99 via SVD of each side; linear CKA and debiased
         CKA in Kornblith's feature-space form.
  maps:  naive  -- each of the 8 x 8 cells computed from scratch (timed on --naive-pairs cells and
                   scaled to 64; stated in the output);
         cached -- each representation's SVD basis / centring / self term computed once, then one
                   product per cell.

Run:  ${PYTHON:-python3} bench/similarity_bench.py --bin build/similarity_bench --threads 2 \
        --widths 64,128,256
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="path of the similarity_bench executable")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--widths", default="64,128,256")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs (both sides)")
    ap.add_argument("--naive-pairs", type=int, default=2, help="cells timed for the naive loops (scaled to all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="", help="write all results as JSON here")
    return ap.parse_args()


ARGS = parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
import numpy as np  # noqa: E402  (after the thread variables)


def centre(x):
    return x - x.mean(axis=0, keepdims=True)


def cca_np(x, y):
    qx, _ = np.linalg.qr(centre(x))
    qy, _ = np.linalg.qr(centre(y))
    return np.linalg.svd(qx.T @ qy, compute_uv=False).mean()


def svcca_basis(x, variance=0.99):
    u, s, _ = np.linalg.svd(centre(x), full_matrices=False)
    frac = np.cumsum(s ** 2) / np.sum(s ** 2)
    k = int(np.searchsorted(frac, variance)) + 1  # smallest k with frac[k-1] >= variance
    return u[:, :k]


def svcca_np(x, y):
    return np.linalg.svd(svcca_basis(x).T @ svcca_basis(y), compute_uv=False).mean()


def cka_linear_np(x, y):
    xc, yc = centre(x), centre(y)
    return np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))


def _debiased_dot(xty, sx, sy, sum_x, sum_y, n):
    return xty - n / (n - 2.0) * sx.dot(sy) + sum_x * sum_y / ((n - 1) * (n - 2))


def cka_debiased_np(x, y):
    # Kornblith et al., feature_space_linear_cka(debiased=True).
    xc, yc = centre(x), centre(y)
    n = xc.shape[0]
    sx, sy = np.einsum("ij,ij->i", xc, xc), np.einsum("ij,ij->i", yc, yc)
    xy = _debiased_dot(np.linalg.norm(xc.T @ yc) ** 2, sx, sy, sx.sum(), sy.sum(), n)
    xx = _debiased_dot(np.linalg.norm(xc.T @ xc) ** 2, sx, sx, sx.sum(), sx.sum(), n)
    yy = _debiased_dot(np.linalg.norm(yc.T @ yc) ** 2, sy, sy, sy.sum(), sy.sum(), n)
    return xy / np.sqrt(xx * yy)


def best_of(repeat, f):
    best, value = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = f()
        best = min(best, time.perf_counter() - t0)
    return best, value


def naive_map(f, xs, ys, cells):
    """Times `cells` cells of the naive loop; returns (seconds scaled to the full map, values)."""
    pairs = [(i, j) for i in range(len(xs)) for j in range(len(ys))][:cells]
    t0 = time.perf_counter()
    vals = [f(xs[i], ys[j]) for i, j in pairs]
    t = time.perf_counter() - t0
    return t * len(xs) * len(ys) / len(pairs), vals


def svcca_cached(xs, ys):
    bx = [svcca_basis(x) for x in xs]
    by = [svcca_basis(y) for y in ys]
    return np.array([[np.linalg.svd(u.T @ v, compute_uv=False).mean() for v in by] for u in bx])


def cka_cached(xs, ys):
    cx = [centre(x) for x in xs]
    cy = [centre(y) for y in ys]
    nx = [np.linalg.norm(c.T @ c) for c in cx]
    ny = [np.linalg.norm(c.T @ c) for c in cy]
    return np.array([[np.linalg.norm(b.T @ a) ** 2 / (na * nb) for b, nb in zip(cy, ny)] for a, na in zip(cx, nx)])


def run_width(p, workdir):
    rng = np.random.RandomState(ARGS.seed + p)
    xs, ys = [], []
    for i in range(ARGS.layers):
        x = rng.standard_normal((ARGS.n, p)).astype(np.float32)
        a = rng.standard_normal((p, p)) / np.sqrt(p)
        y = (x.astype(np.float64) @ a + rng.standard_normal((ARGS.n, p))).astype(np.float32)
        np.save(os.path.join(workdir, f"x{i}.npy"), x)
        np.save(os.path.join(workdir, f"y{i}.npy"), y)
        xs.append(x.astype(np.float64))
        ys.append(y.astype(np.float64))

    cmd = [ARGS.bin, "--dir", workdir, "--threads", str(ARGS.threads), "--repeat", str(ARGS.repeat),
           "--layers", str(ARGS.layers)]
    t0 = time.perf_counter()
    cpp = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    cpp_wall = time.perf_counter() - t0

    res = {"p": p, "n": ARGS.n, "threads": ARGS.threads, "cpp_wall_s": cpp_wall, "pair": {}, "maps": {}}
    for name, f in (("cca", cca_np), ("svcca", svcca_np), ("cka-linear", cka_linear_np),
                    ("cka-debiased", cka_debiased_np)):
        t, v = best_of(ARGS.repeat, lambda: f(xs[0], ys[0]))
        c = cpp["pair"][name]
        res["pair"][name] = {"cpp_s": c["seconds"], "numpy_s": t, "ratio": t / c["seconds"],
                             "abs_diff": abs(c["value"] - v), "value": c["value"]}

    for name, naive_f, cached_f in (("svcca", svcca_np, svcca_cached), ("cka-linear", cka_linear_np, cka_cached)):
        t_naive, naive_vals = naive_map(naive_f, xs, ys, ARGS.naive_pairs)
        t_cached, cached = best_of(ARGS.repeat, lambda: cached_f(xs, ys))
        c = cpp["maps"][name]
        cm = np.array(c["values"])
        pairs = [(i, j) for i in range(ARGS.layers) for j in range(ARGS.layers)][:ARGS.naive_pairs]
        res["maps"][name] = {
            "cpp_s": c["seconds"], "numpy_cached_s": t_cached, "numpy_naive_s_scaled": t_naive,
            "naive_cells_timed": len(pairs),
            "ratio_vs_cached": t_cached / c["seconds"], "ratio_vs_naive": t_naive / c["seconds"],
            "max_abs_diff_vs_cached": float(np.abs(cm - cached).max()),
            "max_abs_diff_vs_naive": float(max(abs(cm[i, j] - v) for (i, j), v in zip(pairs, naive_vals))),
            "value_range": [float(cm.min()), float(cm.max())],
        }
    return res


def main():
    widths = [int(w) for w in ARGS.widths.split(",") if w]
    results = []
    for p in widths:
        with tempfile.TemporaryDirectory(prefix="cl_simbench_") as d:
            r = run_width(p, d)
        results.append(r)
        print(f"\n== N={r['n']} p=q={p} threads={r['threads']} ==")
        for name, v in r["pair"].items():
            print(f"pair {name:13s} closerlook {v['cpp_s']:8.4f} s  numpy {v['numpy_s']:8.4f} s  "
                  f"ratio {v['ratio']:6.2f}x  |diff| {v['abs_diff']:.1e}")
        for name, v in r["maps"].items():
            print(f"8x8 {name:14s} closerlook {v['cpp_s']:8.3f} s  numpy cached {v['numpy_cached_s']:8.3f} s "
                  f"({v['ratio_vs_cached']:5.2f}x)  numpy naive {v['numpy_naive_s_scaled']:8.1f} s "
                  f"[{v['naive_cells_timed']} cells x 64/{v['naive_cells_timed']}] ({v['ratio_vs_naive']:6.1f}x)  "
                  f"max|diff| cached {v['max_abs_diff_vs_cached']:.1e} naive {v['max_abs_diff_vs_naive']:.1e}")
        sys.stdout.flush()
    if ARGS.out:
        with open(ARGS.out, "w") as f:
            json.dump({"command": " ".join(sys.argv), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
