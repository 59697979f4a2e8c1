#!/usr/bin/env bash
# cmake --install into a temporary prefix; the installed binary must find its presets and the
# report assets in <prefix>/share/closerlook (not in the source tree), from any working folder.
set -euo pipefail
build=$1
prefix=$(mktemp -d /tmp/cl_install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
exe="$prefix/bin/closerlook"
[ -x "$exe" ] || { echo "FAIL: $exe not installed"; exit 1; }
for f in share/closerlook/configs/presets/smoke.toml share/closerlook/configs/presets/paper.toml \
         share/closerlook/report/assets/plotly.min.js; do
  [ -f "$prefix/$f" ] || { echo "FAIL: $prefix/$f not installed"; exit 1; }
done
cd "$prefix"   # nowhere near the source tree
root=$("$exe" version | python3 -c 'import json,sys; print(json.load(sys.stdin)["resource_root"])')
[ "$root" = "$prefix/share/closerlook" ] || { echo "FAIL: resource_root is '$root', expected $prefix/share/closerlook"; exit 1; }
"$exe" reproduce --preset smoke --list --out "$prefix/run" > list.txt
grep -q 'sgdr' list.txt || { echo "FAIL: reproduce --list printed no sgdr step:"; cat list.txt; exit 1; }
# The presets come from the prefix: a preset removed there is not found, even though the source tree has it.
rm "$prefix/share/closerlook/configs/presets/smoke.toml"
if "$exe" reproduce --preset smoke --list --out "$prefix/run" > /dev/null 2>err.txt; then
  echo "FAIL: the removed preset was still found (source tree used?)"; exit 1
fi
grep -q "$prefix/share/closerlook/configs/presets" err.txt || { echo "FAIL: error does not name the installed presets folder:"; cat err.txt; exit 1; }
echo "install test: 1 passed, 0 failed"
