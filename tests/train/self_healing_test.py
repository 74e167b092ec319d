#!/usr/bin/env python3
"""A damaged run directory heals itself (issue 13, part 4; docs/operations.md).

A finished run's directory is damaged the ways disks, quotas and people damage
files: an artifact truncated (hardness.pt), a model overwritten with garbage
(teacher.pt), a manifest that is not JSON (curriculum.json), a checkpoint of garbage
with its manifest gone (student_tv), an artifact deleted (student_a_scores.pt).
Re-running the same command must warn about each file, saying what it found, move it
aside to <file>.corrupt, recompute what it held, and end with results.json
byte-identical to the undamaged run: at P = 1, at P = 2 and 3 in groups of one rank
(each unit as one process), and at P = 2 in one group (against the P = 2 run).
With output.strict = true the same damage stops the run (exit 2) with a message
naming the file, what was found and how to recover. Environment: HARDY_DIST_BIN,
MPIEXEC.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hardy_cli import BIN, fail, run, tiny_config  # noqa: E402




def train(np, config, out, group_size, extra=(), expect=0):
    return run(["train", "--config", config, "--out", out, "--set", "dist.group_size=%d" % group_size] + list(extra),
               np=np, expect=expect)


# file (under fold0/) -> (damage, words the warning must hold, moved aside?)
def damage(run_dir):
    fold = os.path.join(run_dir, "fold0")
    hardness = os.path.join(fold, "hardness.pt")
    with open(hardness, "rb") as f:
        data = f.read()
    with open(hardness, "wb") as f:
        f.write(data[: len(data) // 2])
    with open(os.path.join(fold, "teacher.pt"), "wb") as f:
        f.write(b"\x00garbage" * 100)
    with open(os.path.join(fold, "curriculum.json"), "w") as f:
        f.write('{"stage": "curriculum", "key": ')
    os.remove(os.path.join(fold, "student_tv.json"))
    with open(os.path.join(fold, "student_tv.ckpt"), "wb") as f:
        f.write(b"not a checkpoint")
    os.remove(os.path.join(fold, "student_a_scores.pt"))
    return {  # what each warning must say, and whether the file is kept aside
        "hardness.pt": ("truncated", True),
        "teacher.pt": ("truncated or not a torch archive", True),
        "curriculum.json": ("corrupt", True),
        "student_tv.ckpt": ("corrupt or truncated", True),
        "student_a_scores.pt": ("is missing", False),
    }


def check_healed(label, np, group_size, config, reference, out):
    shutil.copytree(reference, out)
    expected = damage(out)
    log = train(np, config, out, group_size)
    for name, (words, aside) in expected.items():
        path = os.path.join(out, "fold0", name)
        lines = [l for l in log.splitlines() if "[warning]" in l and path in l]
        if not lines or not any(words in l for l in lines):
            fail("%s: no warning about %s saying '%s'" % (label, name, words), log)
        if aside and not os.path.exists(path + ".corrupt"):
            fail("%s: %s was not moved aside to %s.corrupt" % (label, name, name), log)
        if not os.path.exists(path):
            fail("%s: %s was not recomputed" % (label, name), log)
    if "student tv | resuming" in log:
        fail("%s: student tv resumed from its garbage checkpoint" % label, log)
    a = open(os.path.join(reference, "results.json")).read()
    b = open(os.path.join(out, "results.json")).read()
    if a != b:
        fail("%s: results.json differs from the undamaged run" % label, log)
    print("%s: 5 damaged files reported, set aside and recomputed; results.json identical" % label)


def main():
    work = tempfile.mkdtemp(prefix="hardy_heal_")
    config = os.path.join(work, "tiny.toml")
    with open(config, "w") as f:
        f.write(tiny_config(work, 5))
    subprocess.run([BIN, "synth", "--config", config], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    one = os.path.join(work, "ref_np1")
    train(1, config, one, 1)
    two = os.path.join(work, "ref_np2_g2")
    train(2, config, two, 2)
    check_healed("P = 1", 1, 1, config, one, os.path.join(work, "np1"))
    check_healed("P = 2 in groups of one", 2, 1, config, one, os.path.join(work, "np2_g1"))
    check_healed("P = 3 in groups of one", 3, 1, config, one, os.path.join(work, "np3_g1"))
    check_healed("P = 2 in one group", 2, 2, config, two, os.path.join(work, "np2_g2"))

    # Only a prepare artifact damaged, its unit's manifest intact: in groups, one group
    # must heal it before any group trains one of the fold's students.
    prepared = os.path.join(work, "np3_g1_prepare")
    shutil.copytree(one, prepared)
    hardness = os.path.join(prepared, "fold0", "hardness.pt")
    with open(hardness, "r+b") as f:
        f.truncate(os.path.getsize(hardness) // 3)
    log = train(3, config, prepared, 1)
    if "its preparation runs again" not in log or "units: 1 of 4 to run" not in log:
        fail("P = 3 in groups of one: the damaged preparation must run again, once, as its own unit", log)
    identical = open(os.path.join(one, "results.json")).read() == open(os.path.join(prepared, "results.json")).read()
    if not identical:
        fail("P = 3 in groups of one, damaged hardness.pt: results.json differs from the undamaged run", log)
    print("P = 3 in groups of one, only hardness.pt damaged: the preparation ran again as one unit; results.json "
          "identical")

    strict = os.path.join(work, "strict")
    shutil.copytree(one, strict)
    damage(strict)
    log = train(2, config, strict, 1, ["--set", "output.strict=true"], expect=2)
    for words in ("output.strict", "delete it", "corrupt"):
        if words not in log:
            fail("output.strict = true: the error must say '%s'" % words, log)
    if any(f.endswith(".corrupt") for f in os.listdir(os.path.join(strict, "fold0"))):
        fail("output.strict = true moved a file aside", log)
    print("output.strict = true: the damage stops the run (exit 2) naming the file; nothing moved")
    print("ok")


if __name__ == "__main__":
    main()
