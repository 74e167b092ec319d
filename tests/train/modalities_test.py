#!/usr/bin/env python3
"""Modalities are data: corpora with two and four modalities train end to end.

1. An audio/text corpus (as MSP-Podcast has) trains with its conditions a, t and at
   (the default: every missing-modality condition and the complete one) on one
   process, and under mpirun -np 2 in one group (data-parallel) and in groups of one;
   with dropout 0 the results equal one process's (groups of one: byte for byte).
   Its results carry macro-F1 and the confusion matrix; training.class_weights =
   inverse_frequency changes the training and stays exact at P = 2.
2. A condition the corpus cannot have (v on audio/text) exits 2 and names the corpus's
   modalities.
3. Four modalities (audio, text, visual, physio; nothing is hard-coded to three):
   selected conditions train and the report has them.
Environment: HARDY_DIST_BIN, MPIEXEC.
"""
import json
import os
import tempfile

from hardy_cli import fail, run
from results_check import compare_results

METRIC_TOL = 0.02

CONFIG = """
[data]
corpus = "{dir}/corpus.h5"
folds = [0]
{conditions}

[synth]
out = "{dir}/corpus.h5"
modalities = {modalities}
dims = {dims}
dialogues = 25
min_length = 4
max_length = 10
classes = 4
folds = 5
seed = 11

[model]
hidden = 16
depth = 1
heads = 2
ff_hidden = 32
decoder_hidden = 32
dropout = 0.0

[training]
finetune_epochs = 2
teacher_epochs = 3
teacher_stage1_epochs = 1
student_epochs = 3
student_stage1_epochs = 1
batch_size = 8
lr = 1e-3
threads = 1
device = "cpu"

[dist]
timeout_s = 60
"""


def corpus(work, name, modalities, dims, conditions=""):
    d = os.path.join(work, name)
    os.makedirs(d)
    config = os.path.join(d, "config.toml")
    with open(config, "w") as f:
        f.write(CONFIG.format(dir=d, modalities=json.dumps(modalities), dims=json.dumps(dims),
                              conditions=conditions))
    run(["synth", "--config", config])
    return d, config


def conditions_of(out):
    results = json.load(open(os.path.join(out, "results.json")))
    return [c["condition"] for c in results["folds"][0]["conditions"]]


def compare(a, b, label):
    compare_results(a, b, label, fail, METRIC_TOL)
    print("%s: results within tolerance of one process" % label)


def main():
    work = tempfile.mkdtemp(prefix="hardy_modalities_")

    # 1. audio + text
    d, config = corpus(work, "at", ["audio", "text"], [12, 16])
    inspect = run(["inspect", "--corpus", os.path.join(d, "corpus.h5")])
    if "features:  audio 12, text 16 (float32)" not in inspect or "format_version 2" not in inspect:
        fail("inspect does not show the two modalities of a format_version 2 corpus", inspect)
    run(["validate", "--corpus", os.path.join(d, "corpus.h5")])
    one = os.path.join(d, "np1")
    log = run(["train", "--config", config, "--out", one])
    if conditions_of(one) != ["a", "t", "at"]:
        fail("an audio/text corpus must train conditions a, t, at by default, got %s" % conditions_of(one), log)
    md = open(os.path.join(one, "results.md")).read()
    if "(a = audio, t = text available)" not in md or "missing-modality conditions (a, t); at," not in md:
        fail("results.md does not describe the audio/text conditions", md)
    print("audio/text: trained a, t, at on one process")
    for group_size in (2, 1):
        out = os.path.join(d, "np2_g%d" % group_size)
        run(["train", "--config", config, "--out", out, "--set", "dist.group_size=%d" % group_size], np=2)
        compare(one, out, "audio/text, P = 2, dist.group_size = %d" % group_size)
        if group_size == 1 and open(os.path.join(one, "results.json")).read() != \
                open(os.path.join(out, "results.json")).read():
            fail("audio/text, P = 2 in groups of one: results.json differs from one process")

    # Classification reports macro-F1, weighted F1 and the confusion matrix per epoch.
    epoch = json.load(open(os.path.join(one, "results.json")))["folds"][0]["conditions"][0]["epochs"][-1]
    if not (0 <= epoch.get("test_macro_f1", -1) <= 1 and len(epoch.get("test_confusion", [])) == 16):
        fail("results.json lacks test_macro_f1 or a 4 x 4 test_confusion: %r" % epoch)
    # Class weights (inverse frequency) change the training, stay exact data-parallel.
    weighted = os.path.join(d, "weighted_np1")
    run(["train", "--config", config, "--out", weighted, "--set", "training.class_weights=inverse_frequency"])
    if open(os.path.join(weighted, "results.json")).read() == open(os.path.join(one, "results.json")).read():
        fail("training.class_weights = inverse_frequency changed nothing")
    weighted2 = os.path.join(d, "weighted_np2")
    run(["train", "--config", config, "--out", weighted2, "--set", "training.class_weights=inverse_frequency",
         "--set", "dist.group_size=2"], np=2)
    compare(weighted, weighted2, "audio/text, class weights, P = 2 in one group")

    # 2. a condition the corpus cannot have
    bad = run(["train", "--config", config, "--out", os.path.join(d, "bad"), "--set", "data.conditions=[v]"],
              expect=2)
    if "audio (a), text (t)" not in bad or "'v'" not in bad:
        fail("condition v on an audio/text corpus must name the corpus's modalities", bad)
    print("condition v on audio/text: exit 2, names the modalities")

    # 3. four modalities
    d4, config4 = corpus(work, "atvp", ["audio", "text", "visual", "physio"], [6, 8, 5, 4],
                         'conditions = ["a", "tp", "avp", "atvp"]')
    out4 = os.path.join(d4, "np1")
    log = run(["train", "--config", config4, "--out", out4])
    if conditions_of(out4) != ["a", "tp", "avp", "atvp"]:
        fail("four modalities: expected conditions a, tp, avp, atvp, got %s" % conditions_of(out4), log)
    if not os.path.exists(os.path.join(out4, "fold0", "feature_net_physio.pt")):
        fail("four modalities: no feature net for 'physio'", log)
    print("four modalities: trained a, tp, avp, atvp")
    print("ok")


if __name__ == "__main__":
    main()
