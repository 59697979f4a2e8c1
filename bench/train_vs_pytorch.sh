#!/usr/bin/env bash
# Training throughput, closerlook vs PyTorch eager, workload vgg11-w16 of
# shared/reference/benchmarks.md, with and without BN, at 1 and 2 threads, interleaved in one
# run so that both sides see the same machine load. closerlook runs with --memory-format
# channels-last (cl-cl) and in its default layout (cl-nchw); PyTorch in its default layout
# (pt-nchw, what a Python user gets) and channels-last (pt-cl, the same kernels as cl-cl).
# Prints a table with the ratios.
# The PyTorch side runs in ${PYTHON:-python3}: the python whose torch wheel provides the LibTorch
# that closerlook links, so both sides run the same torch build.
# Usage: [PYTHON=python3] bench/train_vs_pytorch.sh [BUILD_DIR] [STEPS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
steps=${2:-30}
warmup=5
bin=$build/closerlook
cfg=$root/configs/train_bench_vgg11w16.toml
[ -x "$bin" ] || { echo "no $bin: build it first (scripts/build)" >&2; exit 2; }
py=${PYTHON:-python3}
printf "%-8s %-7s %10s %10s %10s %10s %8s %8s %8s\n" variant threads cl-cl cl-nchw pt-nchw pt-cl "cl/pt" "cl/pt-cl" "nchw/pt"
for bn in true false; do
  for th in 1 2; do
    pyflag=""; [ "$bn" = false ] && pyflag="--no-bn"
    cl() { "$bin" bench train --config "$cfg" --set model.batchnorm=$bn --threads "$th" --steps "$steps" --warmup $warmup --quiet "$@"; }
    pt() { OMP_NUM_THREADS=$th "$py" "$root/bench/train_peer.py" --threads "$th" --steps "$steps" --warmup $warmup $pyflag "$@"; }
    # Interleaved, twice each in alternating order, keeping the better of two runs per side:
    # the machine is shared, so single runs are noisy.
    c1=$(cl --memory-format channels-last); n1=$(cl); p1=$(pt); q1=$(pt --channels-last)
    q2=$(pt --channels-last); p2=$(pt); n2=$(cl); c2=$(cl --memory-format channels-last)
    "$py" - "$bn" "$th" "$c1" "$c2" "$n1" "$n2" "$p1" "$p2" "$q1" "$q2" <<'PY'
import json, sys
bn, th = sys.argv[1], sys.argv[2]
best = lambda i: max(json.loads(s)["images_per_s"] for s in sys.argv[i:i + 2])
c, n, p, q = best(3), best(5), best(7), best(9)
print(f"{'bn' if bn == 'true' else 'no-bn':<8} {th:<7} {c:10.0f} {n:10.0f} {p:10.0f} {q:10.0f} {c / p:8.2f} {c / q:8.2f} {n / p:8.2f}")
PY
  done
done
