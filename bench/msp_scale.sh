#!/usr/bin/env bash
# MSP-Podcast scale (issue 16): a synthetic corpus shaped like MSP-Podcast 1.11 (audio
# 1024 + text 1024, eight imbalanced classes, ~1,200 speakers, the official partition
# sizes, one turn per sequence), trained with the paper's model sizes on conditions a,
# t and at, at each rank count. Epochs are cut to the fewest that run every stage
# (features 1, teacher 1, students 1 + 1) so that each stage's cost per epoch is
# measured at full size; the full protocol (20 / 200 / 25 + 25 epochs) is projected
# from those costs. Per stage: wall seconds (from the stage manifests' times), per
# rank: peak RSS (/usr/bin/time).
#
#   bench/msp_scale.sh [--rows 151654] [--ranks "1 2"] [--bin build/hardy_dist] \
#                      [--work DIR] [-- extra hardy_dist flags]
#
# Prints a markdown table per rank count (bench/README.md, "MSP-Podcast scale").
set -euo pipefail
rows=151654
ranks="1 2"
bin="build/hardy_dist"
work="/tmp/hardy_msp_scale"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --ranks) ranks="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "msp_scale.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
extra=("$@")
mkdir -p "$work"
corpus="$work/msp_$rows.h5"
cat > "$work/bench.toml" <<TOML
# MSP-Podcast 1.11 shape: partitions Train 84,030 / Development 19,815 / Test1 30,647 /
# Test2 14,815 / Test3 2,347 (as fractions of the rows); classes A S H U F D C N with
# neutral dominant (an approximate prior).
[data]
corpus = "$corpus"
protocol = "split"
test_split = "test1"
[synth]
out = "$corpus"
modalities = ["audio", "text"]
dims = [1024, 1024]
utterances = $rows
min_length = 1
max_length = 1
classes = 8
class_prior = [7, 7, 14, 3, 1, 2, 3, 29]
speakers = 1200
split_names = ["train", "valid", "test1", "test2", "test3"]
split_fractions = [0.554090232, 0.130659264, 0.202085009, 0.097689477, 0.015476018]
seed = 1234
[training]
finetune_epochs = 1
teacher_epochs = 1
teacher_stage1_epochs = 1
student_epochs = 2
student_stage1_epochs = 1
TOML
if [[ ! -f "$corpus" ]]; then
  /usr/bin/time -f "synth: %e s, peak RSS %M KiB" "$bin" synth --config "$work/bench.toml" >"$work/synth.log" 2>&1
  tail -1 "$work/synth.log"
fi
for p in $ranks; do
  out="$work/np$p"
  rm -rf "$out"
  launch=()
  [[ "$p" == 1 ]] || launch=(mpirun --allow-run-as-root --oversubscribe -np "$p")
  start=$(date +%s.%N)
  "${launch[@]}" /usr/bin/time -f "peak RSS %M KiB" "$bin" train --config "$work/bench.toml" --out "$out" \
    "${extra[@]}" >"$work/np$p.log" 2>&1
  end=$(date +%s.%N)
  python3 - "$out" "$work/np$p.log" "$p" "$start" "$end" <<'PY'
import os, re, sys, time
out, log, p, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
text = open(log).read()
rss = [int(k) / 2**20 for k in re.findall(r"peak RSS (\d+) KiB", text)]
def clock(epoch_s):  # seconds of the day, as the log's [HH:MM:SS] stamps
    t = time.localtime(epoch_s)
    return t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec + (epoch_s % 1)
def manifest(stage):
    return clock(os.path.getmtime(os.path.join(out, "split", stage + ".json")))
# The prepare unit's stages, from their manifests (each: since the previous one).
walls, previous = {}, clock(start)
for stage in ("features", "teacher", "hardness", "curriculum"):
    walls[stage] = manifest(stage) - previous
    previous = manifest(stage)
# Students, from the log: a group's unit starts at its "unit i/n of group g" line, or
# (one group) where the previous unit ended; epoch lines end stage 1 and stage 2.
line_re = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] \[r\d+/\d+(?: g(\d+))?\] \[info\] (.*)$")
last, students, groups = {}, {}, set()
for line in text.splitlines():
    m = line_re.match(line)
    if not m:
        continue
    t = int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])
    g, message = m[4] or "0", m[5]
    groups.add(g)
    last.setdefault(g, previous)
    if re.match(r"unit \d+/\d+ of group \d+: ", message):
        last[g] = t
    e = re.match(r"split \| student (\w+) \| epoch (\d+)/\d+", message)
    if e and int(e[2]) <= 2:  # training.student_epochs = 1 (stage 1 only) leaves stage 2 at 0
        condition, epoch = e[1], int(e[2])
        students.setdefault(condition, [0.0, 0.0])[epoch - 1] = t - last[g]
        last[g] = t
def project(stage, wall):
    if stage == "features": return wall * 20
    if stage == "teacher": return wall * 200
    return wall
prepare = sum(project(k, v) for k, v in walls.items())
costs = {c: 25 * s1 + 25 * s2 for c, (s1, s2) in students.items()}
loads = [0.0] * len(groups)
for cost in sorted(costs.values(), reverse=True):  # longest first onto the least loaded group
    loads[loads.index(min(loads))] += cost
total = prepare + max(loads)
print(f"\nP = {p} ({len(groups)} group(s)): wall {end - start:.0f} s; peak RSS per rank (GiB): "
      + ", ".join(f"{r:.2f}" for r in rss))
print("| stage | measured s | measured epochs | full-protocol epochs | projected s |")
print("|---|---:|---|---|---:|")
for stage, wall in walls.items():
    n = {"features": ("1", "20"), "teacher": ("1", "200")}.get(stage, ("once", "once"))
    print(f"| {stage} | {wall:.0f} | {n[0]} | {n[1]} | {project(stage, wall):.0f} |")
for c, (s1, s2) in students.items():
    print(f"| student {c} | {s1 + s2:.0f} | 1 + 1 ({s1:.0f} s + {s2:.0f} s) | 25 + 25 | {costs[c]:.0f} |")
print(f"| **projected wall** (prepare, then the students over {len(groups)} group(s)) | | | | "
      f"**{total:.0f}** ({total / 3600:.1f} h) |")
PY
done
