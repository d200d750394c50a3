#!/usr/bin/env bash
# The calls on a lent GPU machine (docs/gpu.md), from the repository root, with the bundle
# (bench/device/bundle.py) carried:
#   device run: command "bash bench/device/run.sh", carry ["bench/device/bundle"], timeout_s 600
# and, only after that first call passed, the authors' protocol (issue 27):
#   device run: command "bash bench/device/run.sh --parts install,environment,authors --budget 540",
#               carry ["bench/device/bundle"], timeout_s 600
# bench/device/runner.py does the work: it installs the bundle into a private folder, runs
# each part in its own time limit (8 minutes in all by default) and rewrites $OUT/summary.txt and
# $OUT/summary.json after every part. Arguments go to it (e.g. --budget 300); PYTHON picks
# the interpreter (the machine's python3, which holds torch, by default).
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-/tmp/mosaicfocus-device-out}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONHASHSEED=0
"${PYTHON:-python3}" bench/device/runner.py --out "$out" "$@" 2>&1 | tee -a "$out/console.log"
exit "${PIPESTATUS[0]}"
