#!/usr/bin/env bash
# The paper's protocol (every fold, every condition) at several rank counts and group
# sizes (dist.group_size, docs/data-parallel.md "Groups and units"): wall time, the
# layout each run chose, and whether results.csv equals the first run's.
#
#   bench/unit_groups.sh [--runs "1:auto 2:1 2:2 2:auto 4:1 4:2 4:4"] [--config configs/demo.toml]
#                        [--bin build/hardy_dist] [--work DIR] [-- extra hardy_dist flags]
#
# Each run is P:GROUP_SIZE; P = 1 runs without mpirun. Threads are hardy_dist's default
# (training.threads = 0: cores / local ranks), as a user gets them. Prints a markdown
# table (bench/README.md, "Units in groups").
set -euo pipefail
runs="1:auto 2:1 2:2 2:auto 4:1 4:2 4:4"
config="configs/demo.toml"
bin="build/hardy_dist"
work="/tmp/hardy_unit_groups"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "unit_groups.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
extra=("$@")
mkdir -p "$work"
corpus=$("$bin" config --config "$config" "${extra[@]}" | sed -n 's/^corpus = "\(.*\)".*/\1/p' | head -1)
[[ -f "$corpus" ]] || "$bin" synth --config "$config" "${extra[@]}" >/dev/null 2>&1
echo "| P | dist.group_size | layout chosen | wall s | vs first run | results.csv |"
echo "|---|---|---|---:|---:|---|"
first_wall="" first_csv=""
for run in $runs; do
  p="${run%%:*}" g="${run#*:}"
  out="$work/np${p}_g${g}"
  rm -rf "$out"
  cmd=("$bin" train --config "$config" --out "$out" --set "dist.group_size=$g" "${extra[@]}")
  [[ "$p" == 1 ]] || cmd=(mpirun --allow-run-as-root --oversubscribe -np "$p" "${cmd[@]}")
  start=$(date +%s.%N)
  "${cmd[@]}" >"$out.log" 2>&1 || { echo "P = $p, group_size = $g failed: see $out.log" >&2; exit 1; }
  end=$(date +%s.%N)
  wall=$(python3 -c "print(f'{$end - $start:.1f}')")
  layout=$(sed -n 's/.*units: [0-9]* of [0-9]* to run ([0-9]* finished earlier) in \([0-9]* group(s) of [0-9]* rank(s)\).*/\1/p' "$out.log" | head -1)
  sum=$(md5sum < "$out/results.csv" | cut -c1-12)
  if [[ -z "$first_wall" ]]; then first_wall="$wall" first_csv="$sum"; fi
  ratio=$(python3 -c "print(f'{$first_wall / $wall:.2f}x')")
  same=$([[ "$sum" == "$first_csv" ]] && echo "identical" || echo "differs ($sum)")
  echo "| $p | $g | $layout | $wall | $ratio | $same |"
done
