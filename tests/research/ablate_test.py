"""hardy_dist ablate end to end (docs/ablation.md).

A tiny corpus, two folds, one condition, two seeds, the rows full, fixed_k,
permuted_hardness and random_supports:
1. P = 1: ablation.md/.csv/.json are written; every difference and its intervals
   agree with the per-(fold, seed) values the JSON lists (fold as the unit); rows
   other than full reuse full's teacher (the same file, not retrained); every run has
   its metrics.csv.
2. Re-running the same command trains nothing and writes the same ablation.json.
3. P = 2 and P = 3 under mpirun: ablation.json identical to P = 1 (dropout 0).
4. An unknown row and a malformed user row exit 2 naming the problem.
Environment: HARDY_DIST_BIN, MPIEXEC.
"""
import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from hardy_cli import fail, run, tiny_config  # noqa: E402

ROWS = "full,fixed_k,permuted_hardness,random_supports"


def ablate(config, out, np=1, extra=(), expect=0):
    return run(["ablate", "--config", config, "--out", out, "--seeds", "2", "--rows", ROWS] + list(extra), np=np,
               expect=expect)


def check_cells(out):
    data = json.load(open(os.path.join(out, "ablation.json")))
    cells = {(c["row"], c["condition"], c["score"], c["selection"]): c for c in data["cells"]}
    rows = [r["name"] for r in data["rows"]]
    if rows != ROWS.split(","):
        fail("ablation.json rows %s, expected %s" % (rows, ROWS.split(",")))
    if data["seeds"] != [42, 43]:
        fail("ablation.json seeds %s, expected [42, 43]" % data["seeds"])
    checked = 0
    for (row, condition, score, selection), cell in cells.items():
        values = cell["values_fold_seed"]
        if len(values) != 2 or any(len(f) != 2 for f in values):
            fail("%s: values are not [2 folds][2 seeds]: %s" % (row, values))
        flat = [v for f in values for v in f]
        if abs(cell["mean"] - sum(flat) / 4) > 1e-9:
            fail("%s %s %s: mean %s is not the mean of %s" % (row, condition, score, cell["mean"], flat))
        if row == "full":
            if "t_interval" in cell:
                fail("full has a difference against itself")
            continue
        full = cells[("full", condition, score, selection)]["values_fold_seed"]
        fold_means = [sum(values[f][s] - full[f][s] for s in range(2)) / 2 for f in range(2)]
        diff = sum(fold_means) / 2
        t = cell["t_interval"]
        # Two folds: t(0.975, 1 df) = 12.7062; sd of the two fold means / sqrt(2).
        half = 12.706204736 * abs(fold_means[0] - fold_means[1]) / math.sqrt(2) / math.sqrt(2)
        if abs(t["diff"] - diff) > 1e-9 or abs(t["high"] - (diff + half)) > 1e-6 or abs(t["low"] - (diff - half)) > 1e-6:
            fail("%s %s %s %s: t-interval %s, expected %.6f ± %.6f from the fold means %s" %
                 (row, condition, score, selection, t, diff, half, fold_means))
        b = cell["bootstrap"]
        if not (b["low"] <= diff + 1e-12 and diff <= b["high"] + 1e-12):
            fail("%s: the bootstrap interval %s does not contain the difference %.6f" % (row, b, diff))
        checked += 1
    if checked == 0:
        fail("no difference was checked")
    return data


def main():
    work = tempfile.mkdtemp(prefix="hardy_ablate_")
    config = os.path.join(work, "tiny.toml")
    with open(config, "w") as f:
        f.write(tiny_config(work, 21, data__folds=[0, 1], data__conditions=["a"], training__teacher_epochs=3,
                            training__student_epochs=3))
    run(["synth", "--config", config])

    one = os.path.join(work, "p1")
    log = ablate(config, one)
    if "preparation file(s) shared from full" not in log:
        fail("no row reused full's preparation", log)
    data = check_cells(one)
    for name in ("ablation.md", "ablation.csv"):
        if not os.path.getsize(os.path.join(one, name)):
            fail("%s is empty" % name)
    md = open(os.path.join(one, "ablation.md")).read()
    for needed in ("WA, best epoch on validation (headline)", "macro-F1, last epoch", "UA, best epoch on test",
                   "t-interval",
                   "hierarchical bootstrap", "## Power"):
        if needed not in md:
            fail("ablation.md lacks '%s'" % needed, md)
    for seed in (42, 43):
        for row in ROWS.split(",")[1:]:
            mine = os.path.join(one, row, "seed%d" % seed, "fold0", "teacher.pt")
            full = os.path.join(one, "full", "seed%d" % seed, "fold0", "teacher.pt")
            if os.stat(mine).st_ino != os.stat(full).st_ino:
                fail("%s seed %d trained its own teacher instead of reusing full's" % (row, seed))
        for row in ROWS.split(","):
            if not os.path.exists(os.path.join(one, row, "seed%d" % seed, "metrics.csv")):
                fail("%s seed %d has no metrics.csv" % (row, seed))
    print("P = 1: %d cells; differences and fold-unit t-intervals agree with the listed values; rows reuse "
          "full's teacher" % len(data["cells"]))

    again = ablate(config, one)
    if "| epoch " in again:
        fail("re-running a finished ablation trained again", again)
    if json.load(open(os.path.join(one, "ablation.json"))) != data:
        fail("re-running a finished ablation changed ablation.json")
    print("re-run: nothing trained, ablation.json unchanged")

    for np in (2, 3):
        out = os.path.join(work, "p%d" % np)
        log = ablate(config, out, np=np)
        if json.load(open(os.path.join(out, "ablation.json"))) != data:
            fail("P = %d: ablation.json differs from P = 1" % np, log)
        print("P = %d: ablation.json identical to P = 1" % np)

    log = run(["ablate", "--config", config, "--out", os.path.join(work, "bad"), "--rows", "full,no_such_row"],
              expect=2)
    if "no_such_row" not in log or "random_supports" not in log:
        fail("an unknown row must be named, with the rows there are", log)
    log = run(["ablate", "--config", config, "--out", os.path.join(work, "bad"), "--set",
               "ablation.extra_rows=[\"k5 retrieval.top_k=5\"]"], expect=2)
    if "has no name" not in log:
        fail("a malformed ablation.extra_rows entry must be explained", log)
    print("an unknown row and a malformed user row exit 2 with the reason")
    print("ok")


if __name__ == "__main__":
    main()
