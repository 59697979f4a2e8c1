#!/usr/bin/env bash
# `reproduce --preset quick` end to end, once per memory format, alternating, under /usr/bin/time -v:
# wall seconds and peak RSS per run, one JSON on stdout (issue 19 item 7). Runs from a copy of the
# binary, into fresh folders under ${TMPDIR:-/tmp}.
# Usage: [PRESET=quick] bench/quick_preset.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
rounds=${2:-1}
bin=$(mktemp "${TMPDIR:-/tmp}/closerlook-quick.XXXXXX")
cp "$build/closerlook" "$bin" && chmod +x "$bin"
runs=()
for r in $(seq "$rounds"); do
  for mf in contiguous channels-last; do
    out=$(mktemp -d "${TMPDIR:-/tmp}/quick-$mf.XXXXXX")
    /usr/bin/time -v -o "$out.time" "$bin" reproduce --preset "${PRESET:-quick}" --out "$out" --memory-format "$mf" --quiet > "$out.log" 2>&1
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out.time")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out.time")
    runs+=("{\"memory_format\": \"$mf\", \"round\": $r, \"wall\": \"$wall\", \"max_rss_kb\": $rss, \"out\": \"$out\"}")
  done
done
rm -f "$bin"
printf '%s\n' "${runs[@]}" | python3 -c '
import json, sys, subprocess
runs = [json.loads(l) for l in sys.stdin if l.strip()]
for r in runs:
    parts = [float(p) for p in r["wall"].split(":")]
    r["wall_s"] = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    r["max_rss_mb"] = r.pop("max_rss_kb") / 1024
    r["threads"] = json.load(open(r["out"] + "/summary.json")).get("runtime", {}).get("threads")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
import os
print(json.dumps({"workload": "reproduce --preset " + os.environ.get("PRESET", "quick"), "commit": commit, "runs": runs}))
'
