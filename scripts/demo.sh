#!/usr/bin/env bash
# The main job on a small synthetic corpus: builds hardy_dist if needed, writes the
# corpus of configs/demo.toml, validates and summarises it, then trains HARDY-MER on
# it (5 folds × 6 conditions) and prints the results table (runs/demo/results.md).
# Extra arguments are passed to every hardy_dist command (e.g. --set synth.seed=7).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh > /tmp/hardy_build.log 2>&1 || { tail -50 /tmp/hardy_build.log; exit 1; }
BIN=${BUILD_DIR:-build}/hardy_dist
CONFIG=${CONFIG:-configs/demo.toml}
"$BIN" synth --config "$CONFIG" "$@"
"$BIN" validate --config "$CONFIG" "$@"
"$BIN" inspect --config "$CONFIG" --shards 4 "$@"
"$BIN" train --config "$CONFIG" "$@"
