"""hardy_dist plot and the figures drawn at the end of train and ablate (docs/plots.md).

1. train on a tiny corpus (two folds): the run's plots/ holds valid PNGs of
   kPlotWidth x kPlotHeight, linked from results.md; the numbers drawn (plots/data)
   are the run's: learning curves = fold means of metrics.csv, K_q fractions =
   results.json's histograms, hardness histograms sum to 1.
2. `hardy_dist plot RUN_DIR` redraws them; a directory that is not a run exits 2.
3. ablate: ablation_deltas.png, its numbers are ablation.json's.
4. Without gnuplot on PATH, train still succeeds and says why there are no figures.
Skips (77) where gnuplot is not installed. Environment: HARDY_DIST_BIN, MPIEXEC.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from hardy_cli import BIN, fail, run, tiny_config  # noqa: E402

WIDTH, HEIGHT = 1200, 800  # research/plots.h
SKIP = 77


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        fail("%s is not a PNG file" % path)
    return struct.unpack(">II", head[16:24])


def check_pngs(directory, names):
    for name in names:
        path = os.path.join(directory, "plots", name)
        if not os.path.exists(path):
            fail("%s was not drawn" % path)
        if png_size(path) != (WIDTH, HEIGHT):
            fail("%s is %s, expected %dx%d" % (path, png_size(path), WIDTH, HEIGHT))


def rows(path):
    return [line.split() for line in open(path) if line.strip() and not line.startswith("#")]


def close(a, b):
    if a == "NaN" or b != b:
        return a == "NaN" and b != b
    return abs(float(a) - b) <= 1e-5 * max(1.0, abs(b))


def main():
    if not shutil.which("gnuplot"):
        print("#" * 72 + "\nSKIPPED plot_test: gnuplot is not installed (scripts/install-deps.sh installs "
              "gnuplot-nox)\n" + "#" * 72)
        sys.exit(SKIP)
    work = tempfile.mkdtemp(prefix="hardy_plot_")
    config = os.path.join(work, "tiny.toml")
    with open(config, "w") as f:
        f.write(tiny_config(work, 31, data__folds=[0, 1], data__conditions=["a", "at"]))
    run(["synth", "--config", config])
    out = os.path.join(work, "run")
    log = run(["train", "--config", config, "--out", out])
    figures = ["learning_curves.png", "kq_histogram.png", "accuracy_by_hardness.png", "hardness_distributions.png",
               "hardness_vs_planted.png"]
    check_pngs(out, figures)
    md = open(os.path.join(out, "results.md")).read()
    for name in figures:
        if "(plots/%s)" % name not in md:
            fail("results.md does not link %s" % name, md)

    # Learning curves: per epoch, the mean over folds of metrics.csv's rows.
    metrics = [line.rstrip("\n").split(",") for line in open(os.path.join(out, "metrics.csv"))]
    header, body = metrics[0], metrics[1:]
    col = {name: i for i, name in enumerate(header)}
    for condition in ("a", "at"):
        drawn = rows(os.path.join(out, "plots", "data", "curve_%s.dat" % condition))
        for epoch, loss, valid, test in drawn:
            mine = [r for r in body if r[col["stage"]] == "student_" + condition and r[col["epoch"]] == epoch]
            if len(mine) != 2:
                fail("epoch %s of %s: %d metrics rows, expected one per fold" % (epoch, condition, len(mine)))
            for value, name in ((loss, "loss"), (valid, "valid_primary"), (test, "test_primary")):
                present = [float(r[col[name]]) for r in mine if r[col[name]]]
                want = sum(present) / len(present) if present else float("nan")
                if not close(value, want):
                    fail("curve_%s.dat epoch %s %s: drawn %s, metrics.csv mean %s" % (condition, epoch, name, value,
                                                                                      want))
    # The loss terms add up to the loss (empty where a stage has no such term).
    for r in body:
        terms = [float(r[col[n]]) for n in ("loss_task", "loss_reconstruction", "loss_mi") if r[col[n]]]
        if not terms or abs(sum(terms) - float(r[col["loss"]])) > 1e-4 * max(1.0, abs(float(r[col["loss"]]))):
            fail("metrics.csv: the loss terms %s do not add up to the loss %s (%s)" % (terms, r[col["loss"]], r))
    if not any(r[col["loss_mi"]] for r in body if r[col["stage"]] == "teacher"):
        fail("metrics.csv: the teacher's stage 1 has no MI term")
    # K_q: results.json's histograms summed over folds, as fractions.
    results = json.load(open(os.path.join(out, "results.json")))
    kq = rows(os.path.join(out, "plots", "data", "kq_histogram.dat"))
    for i, condition in enumerate(("a", "at")):
        hist = [0] * len(kq)
        for fold in results["folds"]:
            for c in fold["conditions"]:
                if c["condition"] == condition:
                    for k, n in enumerate(c["k_histogram"]):
                        hist[k] += n
        for k, row in enumerate(kq):
            if not close(row[i + 1], hist[k] / sum(hist)):
                fail("kq_histogram.dat K_q=%d %s: drawn %s, results.json %s" % (k, condition, row[i + 1],
                                                                               hist[k] / sum(hist)))
    # Accuracy by hardness quintile: results.json's best-on-validation epoch, fold means.
    quintiles = rows(os.path.join(out, "plots", "data", "quintiles.dat"))
    for i, condition in enumerate(("a", "at")):
        for q in range(5):
            values = []
            for fold in results["folds"]:
                for c in fold["conditions"]:
                    if c["condition"] == condition:
                        best = c["selected_epoch"]["best_valid"]
                        e = [e for e in c["epochs"] if e["epoch"] == best][0]
                        if e["test_quintile_accuracy"][q] is not None:
                            values.append(e["test_quintile_accuracy"][q])
            if not close(quintiles[q][i + 1], sum(values) / len(values)):
                fail("quintiles.dat Q%d %s: drawn %s, results.json %s" % (q + 1, condition, quintiles[q][i + 1],
                                                                          values))
    for name in ("Hd", "Hi", "H"):
        total = sum(float(r[1]) for r in rows(os.path.join(out, "plots", "data", "%s_a.dat" % name)))
        if abs(total - 1) > 1e-4:
            fail("%s_a.dat fractions sum to %s" % (name, total))
    print("train: 5 PNGs of %dx%d linked from results.md; curves, K_q, accuracy by hardness and hardness numbers "
          "are the run's" %
          (WIDTH, HEIGHT))

    os.remove(os.path.join(out, "plots", "kq_histogram.png"))
    log = run(["plot", out])
    check_pngs(out, figures)
    log = run(["plot", work], expect=2)
    if "not a finished run directory" not in log:
        fail("plot of a directory that is not a run must say so", log)
    print("hardy_dist plot RUN_DIR redraws; a directory that is not a run exits 2")

    abl = os.path.join(work, "abl")
    run(["ablate", "--config", config, "--out", abl, "--seeds", "2", "--rows", "full,random_supports", "--set",
         "training.teacher_epochs=2", "--set", "training.student_epochs=3"])
    check_pngs(abl, ["ablation_deltas.png"])
    cells = json.load(open(os.path.join(abl, "ablation.json")))["cells"]
    drawn = rows(os.path.join(abl, "plots", "data", "ablation_0.dat"))
    cell = [c for c in cells if c["row"] == "random_supports" and c["condition"] == "average"
            and c["selection"] == "best_valid" and c["score"] == "WA"][0]
    if drawn[0][1] != "random_supports" or not close(drawn[0][2], cell["t_interval"]["diff"]) or \
            not close(drawn[0][3], cell["t_interval"]["low"]) or not close(drawn[0][6], cell["bootstrap"]["high"]):
        fail("ablation_0.dat %s does not hold ablation.json's random_supports cell %s" % (drawn, cell))
    if "(plots/ablation_deltas.png)" not in open(os.path.join(abl, "ablation.md")).read():
        fail("ablation.md does not link its figure")
    print("ablate: ablation_deltas.png drawn from ablation.json's differences and intervals, linked")

    env = dict(os.environ, PATH="/nonexistent")
    proc = subprocess.run([os.path.abspath(BIN), "train", "--config", config, "--out", os.path.join(work, "nogp")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=600)
    if proc.returncode != 0 or "gnuplot is not installed" not in proc.stdout:
        fail("without gnuplot, train must succeed and say why there are no figures (exit %d)" % proc.returncode,
             proc.stdout)
    print("without gnuplot: train succeeds and says why there are no figures")
    print("ok")


if __name__ == "__main__":
    main()
