#!/usr/bin/env bash
# Curve training, closerlook vs a Garipov-style PyTorch curve (bench/curve_peer.py), issue 19
# part 5: one epoch of a 3-bend Bezier curve (endpoints fixed, the middle bend trained, batch 128,
# SGD momentum 0.9, wd 5e-4 on w(t), Garipov's schedule) on vgg11-w16 with BN, EXAMPLES synthetic
# 1 x 32 x 32 images in memory, no augmentation, at THREADS intra-op threads on both sides.
# Interleaved C, P, P, C (REPEAT rounds), best epoch of each side. Each run trains 2 epochs and
# the first one's start-up is not counted on either side: closerlook's time is the curve folder's
# metrics.jsonl "seconds" of epoch 2 (its steps only: no loading, no evaluation), the peer's the
# best of its 2 epochs after 3 untimed steps.
# Prints one JSON line: both figures, the ratio (closerlook faster when > 1), the f32 GEMM
# ceiling (torch.mm 2048^3 in the peer's torch, same threads) and each side's fraction of it
# (training FLOPs = 3 x forward 2 x MACs per image), torch version, commit and load average.
# Usage: [PYTHON=python3] bench/curve_bench.sh [BUILD_DIR] [THREADS] [EXAMPLES] [REPEAT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
threads=${2:-2}
examples=${3:-3840}
repeat=${4:-2}
bin=$build/closerlook
py=${PYTHON:-python3}
[ -x "$bin" ] || { echo "no $bin: build it first (scripts/build)" >&2; exit 2; }
work=$(mktemp -d /tmp/cl_curve_bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Two endpoints: vgg11-w16 (BN) on the synthetic data, one short epoch each (speed only).
for s in 1 2; do
  cat > "$work/end$s.toml" <<EOF
seed = $s
[data]
dataset = "synthetic"
synthetic_train = $examples
synthetic_test = 128
synthetic_size = 32
synthetic_classes = 10
augment = false
[model]
family = "vgg"
layout = "vgg11"
width = 0.25
batchnorm = true
fc_hidden = [128, 128]
dropout = 0.0
[train]
epochs = 1
batch_size = 128
lr = 0.02
momentum = 0.9
weight_decay = 5e-4
eval_train_subset = 128
EOF
  "$bin" train --config "$work/end$s.toml" --out "$work/end$s" --threads "$threads" --quiet > /dev/null
done

cl_epoch() {
  rm -rf "$work/curve"
  "$bin" connect "$work/end1/checkpoints/final.pt" "$work/end2/checkpoints/final.pt" --out "$work/curve" \
    --epochs 2 --batch 128 --set data.augment=false --threads "$threads" --quiet > /dev/null
  "$py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[1])["seconds"])' "$work/curve/metrics.jsonl"
}
py_epoch() {
  OMP_NUM_THREADS=$threads "$py" "$root/bench/curve_peer.py" --threads "$threads" --examples "$examples" --epochs 2 |
    tail -1 | "$py" -c 'import json,sys; print(json.loads(sys.stdin.read())["epoch_seconds"])'
}

cl=(); pt=()
for _ in $(seq "$repeat"); do
  cl+=("$(cl_epoch)"); pt+=("$(py_epoch)"); pt+=("$(py_epoch)"); cl+=("$(cl_epoch)")
done
ceiling=$(OMP_NUM_THREADS=$threads "$py" "$root/bench/curve_peer.py" --threads "$threads" --examples 256 --ceiling | tail -1)
load=$(cut -d' ' -f1-3 /proc/loadavg)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
"$py" - "$examples" "$threads" "$commit" "$load" "$ceiling" "${cl[*]}" "${pt[*]}" <<'PY'
import json, sys
examples, threads, commit, load, ceiling = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
cl = [float(v) for v in sys.argv[6].split()]
pt = [float(v) for v in sys.argv[7].split()]
c, p = min(cl), min(pt)
flops, gemm = ceiling["train_flops_per_image"], ceiling["gemm_f32_gflops"]
print(json.dumps({"workload": "curve-epoch vgg11-w16 bn, 3-bend bezier, batch 128", "examples": examples,
                  "threads": threads, "commit": commit, "torch": ceiling["torch"], "loadavg": load,
                  "closerlook_epoch_s": c, "pytorch_epoch_s": p, "ratio": p / c,
                  "closerlook_img_s": examples / c, "pytorch_img_s": examples / p,
                  "gemm_f32_gflops": gemm,
                  "closerlook_fraction_of_ceiling": examples / c * flops / 1e9 / gemm,
                  "pytorch_fraction_of_ceiling": examples / p * flops / 1e9 / gemm,
                  "closerlook_all_s": cl, "pytorch_all_s": pt}))
PY
