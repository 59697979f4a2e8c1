"""Linear assignment oracle for tests/surface/linear_assignment_test.cpp: random cost matrices
(several sizes incl. 1x1, rectangular both ways, integer costs with many ties, maximise and
minimise) and scipy.optimize.linear_sum_assignment's optimal cost for each.

usage: lap_oracle.py OUT.json
"""
import json
import sys

try:
    import numpy as np
    from scipy.optimize import linear_sum_assignment
except ImportError:  # the C++ test skips (or fails under CI) on this exit code
    sys.exit(77)

rng = np.random.default_rng(17)
cases = []
shapes = [(1, 1), (2, 2), (3, 3), (5, 5), (8, 8), (16, 16), (40, 40), (3, 7), (7, 3), (10, 25), (25, 10), (64, 64)]
for rows, cols in shapes:
    for kind in ("normal", "integer", "ties"):
        for maximize in (False, True):
            if kind == "normal":
                c = rng.normal(size=(rows, cols)) * 10.0 ** rng.integers(-3, 4)
            elif kind == "integer":
                c = rng.integers(-50, 50, size=(rows, cols)).astype(float)
            else:
                c = rng.integers(0, 3, size=(rows, cols)).astype(float)
            r, k = linear_sum_assignment(c, maximize=maximize)
            cases.append({"rows": rows, "cols": cols, "kind": kind, "maximize": maximize,
                          "cost": c.ravel().tolist(), "optimum": float(c[r, k].sum())})
with open(sys.argv[1], "w") as f:
    json.dump({"cases": cases}, f)
