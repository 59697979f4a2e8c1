#!/usr/bin/env bash
# Training throughput, closerlook vs PyTorch eager, workload vgg11-w16 of
# shared/reference/benchmarks.md, with and without BN, at 1 and 2 threads, interleaved in one
# run so that both sides see the same machine load. Prints a table with the ratio.
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
printf "%-8s %-7s %12s %12s %7s\n" variant threads closerlook pytorch ratio
for bn in true false; do
  for th in 1 2; do
    pyflag=""; [ "$bn" = false ] && pyflag="--no-bn"
    # Alternate the order (C++ first, then Python, then C++ again) and keep the better of two
    # C++ runs and two Python runs: the machine is shared, so single runs are noisy.
    c1=$("$bin" bench train --config "$cfg" --set model.batchnorm=$bn --threads "$th" --steps "$steps" --warmup $warmup --quiet)
    p1=$(OMP_NUM_THREADS=$th "$py" "$root/bench/train_peer.py" --threads "$th" --steps "$steps" --warmup $warmup $pyflag)
    p2=$(OMP_NUM_THREADS=$th "$py" "$root/bench/train_peer.py" --threads "$th" --steps "$steps" --warmup $warmup $pyflag)
    c2=$("$bin" bench train --config "$cfg" --set model.batchnorm=$bn --threads "$th" --steps "$steps" --warmup $warmup --quiet)
    "$py" - "$bn" "$th" "$c1" "$c2" "$p1" "$p2" <<'PY'
import json, sys
bn, th = sys.argv[1], sys.argv[2]
c = max(json.loads(s)["images_per_s"] for s in sys.argv[3:5])
p = max(json.loads(s)["images_per_s"] for s in sys.argv[5:7])
print(f"{'bn' if bn == 'true' else 'no-bn':<8} {th:<7} {c:12.0f} {p:12.0f} {c / p:7.2f}")
PY
  done
done
