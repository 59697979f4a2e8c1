#!/usr/bin/env python3
"""Cross-checks `closerlook similarity` against independent numpy versions of the published
formulas on fresh random data: google/svcca's get_cca_similarity / compute_pwcca semantics
(covariance rescaling, remove_small, eps*I, pinv + eigh inverse square root, sum_threshold
mean), the SVCCA tutorial pipeline, and Kornblith et al.'s linear / RBF / debiased CKA and QR CCA.

Run:  ${PYTHON:-python3} bench/similarity_crosscheck.py --bin build/closerlook [--trials 5]
Prints one line per check and exits 1 if any differs by more than its tolerance.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


# ---- google/svcca semantics (neuron-major inside, as the original) ---------------------------
def google_cca(acts1, acts2, epsilon=0.0, threshold=0.98):
    nx, ny = acts1.shape[0], acts2.shape[0]
    cov = np.cov(acts1, acts2)
    sxx, sxy, syy = cov[:nx, :nx].copy(), cov[:nx, nx:].copy(), cov[nx:, nx:].copy()
    xmax, ymax = np.max(np.abs(sxx)), np.max(np.abs(syy))
    sxx /= xmax
    syy /= ymax
    sxy /= np.sqrt(xmax * ymax)
    xi = np.abs(np.diagonal(sxx)) >= epsilon
    yi = np.abs(np.diagonal(syy)) >= epsilon
    sxx, syy, sxy = sxx[xi][:, xi], syy[yi][:, yi], sxy[xi][:, yi]
    sxx += epsilon * np.eye(sxx.shape[0])
    syy += epsilon * np.eye(syy.shape[0])

    def invsqrt(a):
        w, v = np.linalg.eigh(np.linalg.pinv(a))
        return v @ np.diag(np.sqrt(w)) @ v.T

    u, s, v = np.linalg.svd(invsqrt(sxx) @ sxy @ invsqrt(syy))
    s = np.abs(s)
    idx = None
    for i in range(len(s)):
        if np.sum(s[:i]) / np.sum(s) >= threshold:
            idx = i
            break
    return {"s": s, "mean": np.mean(s[:idx]), "u": u, "v": v, "xi": xi, "yi": yi}


def google_pwcca(acts1, acts2, epsilon=0.0):
    r = google_cca(acts1, acts2, epsilon)
    if np.sum(r["xi"]) <= np.sum(r["yi"]):
        acts, idx, coef = acts1, r["xi"], r["u"].T
    else:  # with google/svcca PR #9's fix (acts2)
        acts, idx, coef = acts2, r["yi"], r["v"]
    mu = acts[idx].mean(axis=1, keepdims=True)
    dirns = coef @ (acts[idx] - mu) + mu
    p, _ = np.linalg.qr(dirns.T)
    w = np.sum(np.abs(p.T @ acts[idx].T), axis=1)
    w = w / w.sum()
    return float(np.sum(w * r["s"]))


def google_svcca(acts1, acts2, dims, epsilon=1e-10):
    def reduce(a):
        c = a - a.mean(axis=1, keepdims=True)
        _, s, vt = np.linalg.svd(c, full_matrices=False)
        return s[:dims, None] * vt[:dims]
    return float(np.mean(google_cca(reduce(acts1), reduce(acts2), epsilon)["s"]))


# ---- Kornblith et al. (data-major) ----------------------------------------------------------
def centre_gram(k):
    means = k.mean(0)
    means -= means.mean() / 2
    return k - means[:, None] - means[None, :]


def cka_gram(k, l):
    k, l = centre_gram(k), centre_gram(l)
    return np.sum(k * l) / np.sqrt(np.sum(k * k) * np.sum(l * l))


def gram_rbf(x, threshold):
    d = x @ x.T
    sq = np.diag(d)
    d2 = -2 * d + sq[:, None] + sq[None, :]
    return np.exp(-d2 / (2 * threshold ** 2 * np.median(d2)))


def debiased_cka(x, y):
    x, y = x - x.mean(0), y - y.mean(0)
    n = x.shape[0]
    sx, sy = np.sum(x * x, 1), np.sum(y * y, 1)

    def dbh(xty, a, b):
        return xty - n / (n - 2.0) * a.dot(b) + a.sum() * b.sum() / ((n - 1) * (n - 2))
    return dbh(np.linalg.norm(x.T @ y) ** 2, sx, sy) / np.sqrt(
        dbh(np.linalg.norm(x.T @ x) ** 2, sx, sx) * dbh(np.linalg.norm(y.T @ y) ** 2, sy, sy))


def cca_qr(x, y):
    qx, _ = np.linalg.qr(x - x.mean(0))
    qy, _ = np.linalg.qr(y - y.mean(0))
    return np.linalg.svd(qx.T @ qy, compute_uv=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.RandomState(12345)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="cl_simcheck_") as d:
        def cl(measure, extra=()):
            out = subprocess.run([args.bin, "similarity", f"{d}/x.npy", f"{d}/y.npy", "--measure", measure,
                                  "--threads", "2", *extra], check=True, capture_output=True, text=True).stdout
            return json.loads(out)

        def check(name, got, want, tol):
            nonlocal failures
            diff = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
            ok = diff <= tol
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name:34s} |diff| {diff:.2e} (tol {tol:g})")

        for t in range(args.trials):
            n, p, q = rng.randint(150, 400), rng.randint(3, 30), rng.randint(3, 30)
            x = rng.standard_normal((n, p)) * rng.uniform(0.1, 10, size=p) + rng.uniform(-5, 5, size=p)
            y = np.tanh(x @ rng.standard_normal((p, q))) + 0.5 * rng.standard_normal((n, q))
            np.save(f"{d}/x.npy", x)
            np.save(f"{d}/y.npy", y)
            tag = f"[{t}] n={n} p={p} q={q}"
            print(tag)
            g = google_cca(x.T, y.T)
            r = cl("cca", ["--compat", "google"])
            check("google cca coefficients", r["coefficients"], g["s"], 1e-8)
            check("google cca mean (0.98)", r["value"], g["mean"], 1e-8)
            check("google pwcca", cl("pwcca", ["--compat", "google"])["value"], google_pwcca(x.T, y.T), 1e-8)
            k = min(p, q, 5)
            check("google svcca (tutorial, k dims)",
                  cl("svcca", ["--compat", "google", "--svcca-dims", str(k), "--epsilon", "1e-10"])["value"],
                  google_svcca(x.T, y.T, k), 1e-8)
            check("clean cca == QR cca", cl("cca")["coefficients"], cca_qr(x, y), 1e-9)
            check("clean svcca (k dims) == google", cl("svcca", ["--svcca-dims", str(k)])["value"],
                  google_svcca(x.T, y.T, k), 1e-8)
            check("linear cka", cl("cka-linear")["value"], cka_gram(x @ x.T, y @ y.T), 1e-10)
            check("rbf cka (threshold 0.5)", cl("cka-rbf", ["--rbf-threshold", "0.5"])["value"],
                  cka_gram(gram_rbf(x, 0.5), gram_rbf(y, 0.5)), 1e-9)
            check("debiased cka", cl("cka-debiased")["value"], debiased_cka(x, y), 1e-10)
    print("all agree" if failures == 0 else f"{failures} checks FAILED")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
