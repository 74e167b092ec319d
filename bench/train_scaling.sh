#!/usr/bin/env bash
# Whole-pipeline scaling: `hardy_dist train` on one corpus at several rank counts,
# one LibTorch and one OpenBLAS thread per rank, and the per-step time split that
# rank 0 writes to <out>/timings.json (each figure: the maximum over the ranks).
#
#   bench/train_scaling.sh [--ranks "1 2 4"] [--bin build/hardy_dist] [--work DIR] \
#                          [-- extra hardy_dist flags, e.g. --set training.student_epochs=4]
#
# Prints a markdown table per rank count (bench/README.md, "Data-parallel training").
set -euo pipefail
ranks="1 2 4"
bin="build/hardy_dist"
work="/tmp/hardy_train_scaling"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ranks) ranks="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "train_scaling.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
extra=("$@")
mkdir -p "$work"
cat > "$work/bench.toml" <<TOML
# 240 dialogues of 6-20 utterances, demo-sized model, one fold, all seven conditions.
[data]
corpus = "$work/corpus.h5"
folds = [0]
[synth]
out = "$work/corpus.h5"
dialogues = 240
min_length = 6
max_length = 20
classes = 4
dims = [64, 96, 48]
folds = 5
seed = 1234
[model]
hidden = 64
depth = 2
heads = 2
ff_hidden = 128
decoder_hidden = 128
[training]
finetune_epochs = 10
teacher_epochs = 6
teacher_stage1_epochs = 3
student_epochs = 4
student_stage1_epochs = 2
batch_size = 16
lr = 1e-3
threads = 1
TOML
[[ -f "$work/corpus.h5" ]] || "$bin" synth --config "$work/bench.toml" >/dev/null 2>&1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
for p in $ranks; do
  out="$work/np$p"
  rm -rf "$out"
  start=$(date +%s.%N)
  if [[ "$p" == 1 ]]; then
    "$bin" train --config "$work/bench.toml" --out "$out" "${extra[@]}" >"$work/np$p.log" 2>&1
  else
    mpirun --allow-run-as-root --oversubscribe -np "$p" "$bin" train --config "$work/bench.toml" \
      --out "$out" "${extra[@]}" >"$work/np$p.log" 2>&1
  fi
  end=$(date +%s.%N)
  python3 - "$out/timings.json" "$p" "$start" "$end" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
p, wall = int(sys.argv[2]), float(sys.argv[4]) - float(sys.argv[3])
print(f"\nP = {p}: wall {wall:.1f} s")
print("| stage | steps | data ms/step | compute ms/step | grad allreduce ms/step | exchange s | total s |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, s in t["stages"].items():
    n = max(s["steps"], 1)
    total = s["data_s"] + s["compute_s"] + s["grad_sync_s"] + s["exchange_s"]
    per = lambda v: f"{1000 * v / n:.2f}" if s["steps"] else "–"
    print(f"| {name} | {s['steps']} | {per(s['data_s'])} | {per(s['compute_s'])} | {per(s['grad_sync_s'])} | "
          f"{s['exchange_s']:.2f} | {total:.1f} |")
PY
done
