#!/usr/bin/env python3
"""The "similarity" benchmark of benchmarks.md: closerlook against straightforward numpy, fairly.

For each width p: random X_i (N x p, float32) and Y_i = X_i A_i + noise (i = 0..7) are written
to a temporary folder. Then, --repeat times, interleaved: one run of the C++ side
(bench/similarity_bench.cpp, every workload once) and one run of the numpy peers (every workload
once); each figure is the best of the runs. Both sides get the float32 arrays and time their own
conversion to float64 (numpy's astype inside the timed function, closerlook's inside its timer);
neither times reading files. Same thread count on both sides (BLAS threads set before numpy loads).

Peers (the same formulas as closerlook, written the obvious way, float64):
  pair:  CCA via QR of each centred side; SVCCA-99 via SVD of each side; linear CKA and debiased
         CKA in Kornblith's feature-space form.
  maps:  naive  -- each of the 8 x 8 cells from scratch (timed on --naive-pairs cells, scaled to 64,
                   first run only);
         cached -- each representation's SVD basis (SVCCA) / QR basis (CCA) / centring and self
                   term (CKA) computed once, then one product per cell;
         cka-linear-f32 -- the cached CKA map kept in float32 throughout (numpy's float32 variant),
                   against closerlook's --precision float32 mode.
FLOPs of a linear-CKA map (for its fraction of the GEMM ceiling, from bench/ceiling's JSON via
--ceiling): sum over representations of 2 N p^2 (X^T X) + sum over cells of 2 N p q (X^T Y).

Run:  ${PYTHON:-python3} bench/similarity_bench.py --bin build/similarity_bench --threads 2 \
        --widths 64,128,256,512 --ceiling ceiling.json --out similarity.json
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
    ap.add_argument("--widths", default="64,128,256,512")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs per side; best of them")
    ap.add_argument("--naive-pairs", type=int, default=2, help="cells timed for the naive loops (scaled to all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ceiling", default="", help="bench/ceiling JSON: report the CKA maps' fraction of it")
    ap.add_argument("--stream", default="", help="also run the streamed debiased CKA at these N (e.g. 10000,100000,1000000)")
    ap.add_argument("--stream-p", type=int, default=256)
    ap.add_argument("--maps-only", action="store_true", help="skip the pair workloads")
    ap.add_argument("--out", default="", help="write all results as JSON here")
    return ap.parse_args()


ARGS = parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
import numpy as np  # noqa: E402  (after the thread variables)

F64 = np.float64


def centre(x):
    return x - x.mean(axis=0, keepdims=True)


def cca_basis(x):
    return np.linalg.qr(centre(x.astype(F64)))[0]


def cca_np(x, y):
    return np.linalg.svd(cca_basis(x).T @ cca_basis(y), compute_uv=False).clip(0, 1).mean()


def svcca_basis(x, variance=0.99):
    u, s, _ = np.linalg.svd(centre(x.astype(F64)), full_matrices=False)
    frac = np.cumsum(s ** 2) / np.sum(s ** 2)
    k = int(np.searchsorted(frac, variance)) + 1  # smallest k with frac[k-1] >= variance
    return u[:, :k]


def svcca_np(x, y):
    return np.linalg.svd(svcca_basis(x).T @ svcca_basis(y), compute_uv=False).clip(0, 1).mean()


def cka_linear_np(x, y):
    xc, yc = centre(x.astype(F64)), centre(y.astype(F64))
    return np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))


def _debiased_dot(xty, sx, sy, sum_x, sum_y, n):
    return xty - n / (n - 2.0) * sx.dot(sy) + sum_x * sum_y / ((n - 1) * (n - 2))


def cka_debiased_np(x, y):
    # Kornblith et al., feature_space_linear_cka(debiased=True).
    xc, yc = centre(x.astype(F64)), centre(y.astype(F64))
    n = xc.shape[0]
    sx, sy = np.einsum("ij,ij->i", xc, xc), np.einsum("ij,ij->i", yc, yc)
    xy = _debiased_dot(np.linalg.norm(xc.T @ yc) ** 2, sx, sy, sx.sum(), sy.sum(), n)
    xx = _debiased_dot(np.linalg.norm(xc.T @ xc) ** 2, sx, sx, sx.sum(), sx.sum(), n)
    yy = _debiased_dot(np.linalg.norm(yc.T @ yc) ** 2, sy, sy, sy.sum(), sy.sum(), n)
    return xy / np.sqrt(xx * yy)


def timed(f):
    t0 = time.perf_counter()
    v = f()
    return time.perf_counter() - t0, v


def naive_map(f, xs, ys, cells):
    """Times `cells` cells of the naive loop; returns (seconds scaled to the full map, values)."""
    pairs = [(i, j) for i in range(len(xs)) for j in range(len(ys))][:cells]
    t0 = time.perf_counter()
    vals = [f(xs[i], ys[j]) for i, j in pairs]
    t = time.perf_counter() - t0
    return t * len(xs) * len(ys) / len(pairs), vals


def subspace_cached(basis):
    def run(xs, ys):
        bx = [basis(x) for x in xs]
        by = [basis(y) for y in ys]
        return np.array([[np.linalg.svd(u.T @ v, compute_uv=False).clip(0, 1).mean() for v in by] for u in bx])
    return run


def cka_cached(xs, ys, dtype=F64):
    cx = [centre(x.astype(dtype)) for x in xs]
    cy = [centre(y.astype(dtype)) for y in ys]
    nx = [np.linalg.norm(c.T @ c) for c in cx]
    ny = [np.linalg.norm(c.T @ c) for c in cy]
    return np.array([[np.linalg.norm(b.T @ a) ** 2 / (na * nb) for b, nb in zip(cy, ny)] for a, na in zip(cx, nx)])


PAIR_PEERS = (("cca", cca_np), ("svcca", svcca_np), ("cka-linear", cka_linear_np), ("cka-debiased", cka_debiased_np))
MAP_PEERS = (  # name, naive per-cell function (or None), cached map function
    ("svcca", svcca_np, subspace_cached(svcca_basis)),
    ("cca", cca_np, subspace_cached(cca_basis)),
    ("cka-linear", cka_linear_np, cka_cached),
    ("cka-linear-f32", None, lambda xs, ys: cka_cached(xs, ys, np.float32)),
)


def ceiling_f64():
    if not ARGS.ceiling:
        return None
    with open(ARGS.ceiling) as f:
        c = json.load(f)["ceiling_gflops"]
    return {d: c[d].get(str(ARGS.threads)) for d in c}


def run_width(p, workdir):
    rng = np.random.RandomState(ARGS.seed + p)
    xs, ys = [], []
    for i in range(ARGS.layers):
        x = rng.standard_normal((ARGS.n, p)).astype(np.float32)
        a = rng.standard_normal((p, p)) / np.sqrt(p)
        y = (x.astype(F64) @ a + rng.standard_normal((ARGS.n, p))).astype(np.float32)
        np.save(os.path.join(workdir, f"x{i}.npy"), x)
        np.save(os.path.join(workdir, f"y{i}.npy"), y)
        xs.append(x)
        ys.append(y)
    cmd = [ARGS.bin, "--dir", workdir, "--threads", str(ARGS.threads), "--layers", str(ARGS.layers)]
    best = {}  # key -> best seconds

    def keep(key, t):
        best[key] = min(best.get(key, float("inf")), t)

    cpp = None
    npv = {}
    naive = {}
    for r in range(ARGS.repeat):
        cpp = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        for name, v in cpp["pair"].items():
            keep(("cpp", "pair", name), v["seconds"])
        for name, v in cpp["maps"].items():
            keep(("cpp", "map", name), v["seconds"])
        for name, f in ([] if ARGS.maps_only else PAIR_PEERS):
            t, npv[("pair", name)] = timed(lambda: f(xs[0], ys[0]))
            keep(("np", "pair", name), t)
        for name, naive_f, cached_f in MAP_PEERS:
            t, npv[("map", name)] = timed(lambda: cached_f(xs, ys))
            keep(("np", "map", name), t)
            if r == 0 and naive_f is not None and ARGS.naive_pairs > 0:
                naive[name] = naive_map(naive_f, xs, ys, ARGS.naive_pairs)

    ceil = ceiling_f64()
    res = {"p": p, "n": ARGS.n, "threads": ARGS.threads, "repeat": ARGS.repeat, "pair": {}, "maps": {}}
    for name, _ in ([] if ARGS.maps_only else PAIR_PEERS):
        c, t = best[("cpp", "pair", name)], best[("np", "pair", name)]
        res["pair"][name] = {"cpp_s": c, "numpy_s": t, "ratio": t / c,
                             "abs_diff": abs(cpp["pair"][name]["value"] - npv[("pair", name)])}
    L = ARGS.layers
    for name, naive_f, _ in MAP_PEERS:
        c, t = best[("cpp", "map", name)], best[("np", "map", name)]
        cm = np.array(cpp["maps"][name]["values"])
        ref64 = npv[("map", name.replace("-f32", ""))]
        row = {"cpp_s": c, "numpy_cached_s": t, "ratio_vs_cached": t / c, "route": cpp["maps"][name]["route"],
               "max_abs_diff_vs_cached": float(np.abs(cm - npv[("map", name)]).max()),
               "max_abs_diff_vs_numpy_f64": float(np.abs(cm - ref64).max()),
               "value_range": [float(cm.min()), float(cm.max())]}
        if name.startswith("cka-linear"):
            gflop = (2 * L * 2.0 * ARGS.n * p * p + L * L * 2.0 * ARGS.n * p * p) / 1e9
            row["gflop"] = gflop
            row["cpp_gflops"] = gflop / c
            row["numpy_gflops"] = gflop / t
            if ceil:
                d = "float32" if name.endswith("f32") else "float64"
                row["ceiling_gflops"] = ceil[d]
                row["cpp_fraction_of_ceiling"] = gflop / c / ceil[d]
                row["numpy_fraction_of_ceiling"] = gflop / t / ceil[d]
            if name.endswith("f32"):
                row["ratio_vs_cached_f64"] = best[("np", "map", "cka-linear")] / c
        if name in naive:
            tn, vals = naive[name]
            pairs = [(i, j) for i in range(L) for j in range(L)][:ARGS.naive_pairs]
            row["numpy_naive_s_scaled"] = tn
            row["ratio_vs_naive"] = tn / c
            row["max_abs_diff_vs_naive"] = float(max(abs(cm[i, j] - v) for (i, j), v in zip(pairs, vals)))
        res["maps"][name] = row
    return res


def main():
    widths = [int(w) for w in ARGS.widths.split(",") if w]
    out = {"command": " ".join(sys.argv), "load_before": os.getloadavg(), "results": []}
    for p in widths:
        with tempfile.TemporaryDirectory(prefix="cl_simbench_") as d:
            r = run_width(p, d)
        r["load_after"] = os.getloadavg()
        out["results"].append(r)
        print(f"\n== N={r['n']} p=q={p} threads={r['threads']} best of {r['repeat']} interleaved "
              f"(load {r['load_after'][0]:.2f}) ==")
        for name, v in r["pair"].items():
            print(f"pair {name:15s} closerlook {v['cpp_s']:8.4f} s  numpy {v['numpy_s']:8.4f} s  "
                  f"ratio {v['ratio']:6.2f}x  |diff| {v['abs_diff']:.1e}")
        for name, v in r["maps"].items():
            extra = ""
            if "cpp_fraction_of_ceiling" in v:
                extra = f"  {v['cpp_gflops']:.1f} GFLOP/s = {100 * v['cpp_fraction_of_ceiling']:.0f}% of ceiling " \
                        f"(numpy {100 * v['numpy_fraction_of_ceiling']:.0f}%)"
            if "ratio_vs_cached_f64" in v:
                extra += f"  vs numpy f64 cached {v['ratio_vs_cached_f64']:.2f}x"
            if "ratio_vs_naive" in v:
                extra += f"  naive {v['numpy_naive_s_scaled']:.1f} s ({v['ratio_vs_naive']:.1f}x)"
            print(f"8x8 {name:16s} closerlook {v['cpp_s']:8.3f} s [{v['route'] or 'streamed'}]  numpy cached "
                  f"{v['numpy_cached_s']:8.3f} s ({v['ratio_vs_cached']:5.2f}x)  max|diff| {v['max_abs_diff_vs_cached']:.1e} "
                  f"(vs numpy f64 {v['max_abs_diff_vs_numpy_f64']:.1e}){extra}")
        sys.stdout.flush()
    if ARGS.stream:
        cmd = [ARGS.bin, "--stream", ARGS.stream, "--p", str(ARGS.stream_p), "--threads", str(ARGS.threads)]
        s = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["stream"]
        out["stream"] = s
        print("\nstreamed debiased CKA (X, Y = XA + noise, p = q = %d, batches of 4096 generated on the fly):" % ARGS.stream_p)
        for row in s:
            print(f"  N={row['n']:>8d}  {row['seconds']:7.2f} s  ({row['gflop'] / row['seconds']:.1f} GFLOP/s)  "
                  f"RSS start {row['rss_start_mb']:.0f} MB, peak {row['rss_peak_mb']:.0f} MB  "
                  f"debiased {row['debiased_cka']:.4f}")
    if ARGS.out:
        with open(ARGS.out, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
