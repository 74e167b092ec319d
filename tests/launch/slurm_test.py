#!/usr/bin/env python3
"""launch/slurm/hardy.sbatch under a real SLURM controller (issue 13, part 5).

The test starts a one-node cluster on this machine: munged, slurmctld and slurmd
from Debian's munge and slurm-wlm, with every file (munge key and socket, slurm.conf,
state, spool, logs, pid files) in a temp directory and ports of its own; the node has
this machine's cores. Then:

1. A 2-task job: `sbatch ... launch/slurm/hardy.sbatch train --config tiny.toml`
   (srun launcher) finishes, and its results.json is byte-identical to
   `mpirun -np 2` with the same settings.
2. A job told to stop (launcher mpirun, see below): `scancel --signal=USR1 --batch` while the teacher trains (what
   `--signal=B:USR1@300` does before a time limit). The script passes USR1 to srun,
   the ranks checkpoint and exit 75, the script requeues the job, the requeued job
   resumes ("resuming epoch E after batch B") and completes with the uninterrupted
   run's results.json.

It stops every daemon it started (by pid) and removes nothing else. Where the
daemons cannot start (not root, slurm-wlm or munge missing, a port taken), it prints
a loud SKIPPED line with the reason and exits 77. Environment: HARDY_DIST_BIN,
MPIEXEC.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from hardy_cli import tiny_config  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
SBATCH = os.path.join(SRC, "launch", "slurm", "hardy.sbatch")
BIN = os.path.abspath(os.environ["HARDY_DIST_BIN"])
MPIEXEC = os.environ.get("MPIEXEC", "mpirun")
SKIP = 77


started = []  # (name, Popen) of the daemons, stopped in reverse order
cluster_env = {}  # SLURM_CONF etc. once the cluster is up


def skip(why):
    print("#" * 72 + "\nSKIPPED slurm_test: %s\n" % why + "#" * 72)
    sys.exit(SKIP)


def fail(message, output=""):
    sys.exit(message + ("\n--- output ---\n" + output if output else ""))


def stop_daemons():
    if cluster_env and any(proc.poll() is None for _, proc in started):
        # Jobs first: their slurmstepd and ranks are not the daemons' children.
        subprocess.run(["scancel", "--full", "--partition=test"], env=cluster_env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline and subprocess.run(
                ["squeue", "-h"], env=cluster_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True).stdout.strip():
            time.sleep(0.5)
    for name, proc in reversed(started):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    started.clear()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, cmd, env, log):
    proc = subprocess.Popen(cmd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    started.append((name, proc))
    return proc


def wait_for(what, check, timeout, logs=()):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.5)
    text = "".join("--- %s ---\n%s\n" % (p, open(p).read()[-3000:]) for p in logs if os.path.exists(p))
    fail("timed out after %d s waiting for %s" % (timeout, what), text)


def cluster(work):
    """Starts munged, slurmctld and slurmd; returns the environment for SLURM's commands."""
    for tool in ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "scancel"):
        path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
        if not path:
            skip("%s is not installed (scripts/install-deps.sh installs munge and slurm-wlm)" % tool)
    if os.geteuid() != 0:
        skip("the daemons of a test cluster run as root here (not root)")
    host = socket.gethostname().split(".")[0]
    d = {k: os.path.join(work, k) for k in ("munge", "state", "spool", "logs")}
    for p in d.values():
        os.makedirs(p, mode=0o700)
    key, sock = os.path.join(d["munge"], "munge.key"), os.path.join(d["munge"], "munge.socket")
    with open(key, "wb") as f:
        f.write(os.urandom(1024))
    os.chmod(key, 0o600)
    env = dict(os.environ, PATH="/usr/sbin:/sbin:" + os.environ["PATH"])
    munged = shutil.which("munged", path=env["PATH"])
    start("munged", [munged, "-F", "-f", "--key-file", key, "--socket", sock,
                     "--pid-file", os.path.join(d["munge"], "munged.pid"),
                     "--log-file", os.path.join(d["logs"], "munged.log"),
                     "--seed-file", os.path.join(d["munge"], "munged.seed")], env,
          os.path.join(d["logs"], "munged.out"))
    wait_for("munged's socket", lambda: os.path.exists(sock), 20, [os.path.join(d["logs"], "munged.log")])
    ctl_port = free_port()
    node_port = free_port()
    while node_port == ctl_port:
        node_port = free_port()
    conf = os.path.join(work, "slurm.conf")
    cpus = os.cpu_count() or 2
    with open(conf, "w") as f:
        f.write("""ClusterName=hardytest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctl_port}
SlurmdPort={node_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={spool}/slurmd.pid
SlurmctldLogFile={logs}/slurmctld.log
SlurmdLogFile={logs}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
JobRequeue=1
KillWait=20
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
""".format(host=host, ctl_port=ctl_port, node_port=node_port, sock=sock, cpus=cpus, **d))
    env["SLURM_CONF"] = conf
    cluster_env.update(env)
    start("slurmctld", [shutil.which("slurmctld", path=env["PATH"]), "-D", "-i", "-f", conf], env,
          os.path.join(d["logs"], "slurmctld.out"))
    start("slurmd", [shutil.which("slurmd", path=env["PATH"]), "-D", "-f", conf, "-N", host], env,
          os.path.join(d["logs"], "slurmd.out"))
    logs = [os.path.join(d["logs"], n) for n in ("slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out")]

    def node_idle():
        for name, proc in started:
            if proc.poll() is not None:
                text = "".join(open(p).read()[-2000:] for p in logs if os.path.exists(p))
                skip("%s exited with %d at start-up: %s" % (name, proc.returncode, text.strip()[-600:]))
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True).stdout
        return "idle" in out
    wait_for("the node to be idle", node_idle, 60, logs)
    return env, logs


def job_field(env, job, field):
    out = subprocess.run(["scontrol", "show", "job", job], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True).stdout
    m = re.search(r"\b%s=(\S+)" % field, out)
    return m.group(1) if m else ""


def submit(env, work, config, out, name, launcher="srun"):
    # HARDY_SRUN_MPI unset: the script picks PMIx itself (the cluster's MpiDefault is none).
    env = dict(env, HARDY_DIST=BIN, HARDY_LAUNCHER=launcher)
    env.pop("HARDY_SRUN_MPI", None)
    log = os.path.join(work, name + "-%j.out")
    cmd = ["sbatch", "--parsable", "--job-name", name, "--nodes=1", "--ntasks=2", "--ntasks-per-node=2",
           "--cpus-per-task=1", "--gpus-per-node=0", "--time=20", "--output", log, "--chdir", SRC,
           SBATCH, "train", "--config", config, "--out", out]
    res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if res.returncode != 0:
        fail("sbatch failed", res.stdout)
    job = res.stdout.strip().split(";")[0]
    return job, log.replace("%j", job)


def diagnosis(env, job, log, logs):
    """The job's log, scontrol's view of the job and the daemons' log tails."""
    text = "--- %s ---\n%s\n" % (log, open(log).read() if os.path.exists(log) else "(none)")
    text += "--- scontrol show job %s ---\n%s\n" % (job, subprocess.run(
        ["scontrol", "show", "job", job], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True).stdout)
    return text + "".join("--- %s (tail) ---\n%s\n" % (p, open(p).read()[-4000:]) for p in logs
                          if os.path.exists(p))


def wait_done(env, job, log, logs, timeout=600):
    final = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}
    wait_for("job %s to end" % job, lambda: job_field(env, job, "JobState") in final, timeout, [log] + logs)
    state = job_field(env, job, "JobState")
    if state != "COMPLETED":
        fail("job %s ended %s (exit %s)" % (job, state, job_field(env, job, "ExitCode")),
             diagnosis(env, job, log, logs))


def steps_gone(job):
    """True when no slurmstepd of the job is left on this node (its cleanup is over)."""
    return not subprocess.run(["pgrep", "-f", r"slurmstepd: \[%s\." % job], stdout=subprocess.DEVNULL).returncode == 0


def mpirun(config, out):
    res = subprocess.run([MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", "2", BIN, "train", "--config",
                          config, "--out", out, "--set", "training.threads=1"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=600)
    if res.returncode != 0:
        fail("mpirun -np 2 failed", res.stdout)


def identical(a, b, label, log):
    if open(os.path.join(a, "results.json")).read() != open(os.path.join(b, "results.json")).read():
        fail("%s: results.json differs from mpirun -np 2's" % label, open(log).read())


def main():
    work = tempfile.mkdtemp(prefix="hardy_slurm_")
    os.chmod(work, 0o755)
    atexit.register(stop_daemons)
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: sys.exit(1))
    began = time.time()
    env, logs = cluster(work)
    print("one-node SLURM cluster up in %.1f s" % (time.time() - began))

    config = os.path.join(work, "tiny.toml")
    with open(config, "w") as f:
        f.write(tiny_config(work, 9, training__teacher_epochs=4, dist__timeout_s=30, dist__group_size=2))
    long_config = os.path.join(work, "long.toml")
    with open(long_config, "w") as f:
        f.write(tiny_config(work, 9, training__teacher_epochs=60, dist__timeout_s=30, dist__group_size=2))
    subprocess.run([BIN, "synth", "--config", config], check=True, stdout=subprocess.DEVNULL)

    reference = os.path.join(work, "mpirun")
    mpirun(config, reference)
    out = os.path.join(work, "sbatch")
    t0 = time.time()
    job, log = submit(env, work, config, out, "hardy")
    wait_done(env, job, log, logs)
    identical(reference, out, "sbatch job %s" % job, log)
    print("sbatch, 2 tasks: job %s completed in %.1f s; results.json identical to mpirun -np 2" %
          (job, time.time() - t0))

    long_reference = os.path.join(work, "mpirun_long")
    mpirun(long_config, long_reference)
    out = os.path.join(work, "requeued")
    t0 = time.time()
    # mpirun inside the allocation: under srun with PMIx, Debian's slurm-wlm 22.05 leaves
    # the step's PMIx socket in the spool, and the requeued job (same job and step id)
    # cannot start its step ("Cannot bind() UNIX socket"; docs/operations.md).
    job, log = submit(env, work, long_config, out, "hardy-requeue", launcher="mpirun")
    wait_for("the teacher's first epoch", lambda: os.path.exists(log) and "| teacher | epoch 1/" in open(log).read(),
             300, [log] + logs)
    res = subprocess.run(["scancel", "--signal=USR1", "--batch", job], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    if res.returncode != 0:
        fail("scancel --signal=USR1 --batch failed", res.stdout)
    # Requeued jobs wait (BeginTime) before they may start again: let it start now.
    wait_for("the job to be requeued", lambda: job_field(env, job, "Restarts") not in ("", "0"), 120, [log] + logs)
    # Let it start again only once the first run is wholly over: pending, not completing,
    # and no slurmstepd of it left (starting it earlier races the node's cleanup).
    wait_for("the requeued job to be pending with its first run cleaned up",
             lambda: job_field(env, job, "JobState") == "PENDING" and steps_gone(job), 120, [log] + logs)
    # slurmd revokes the first run's credential at a time in whole seconds and refuses
    # a credential made in that same second ("already killed, do not launch batch
    # job": the job fails with exit 1 and no output). A real requeue waits its
    # BeginTime (minutes); two seconds are enough here.
    time.sleep(2)
    subprocess.run(["scontrol", "update", "JobId=" + job, "StartTime=now"], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wait_done(env, job, log, logs)
    text = open(log).read()
    for words in ("USR1 received, passing it to the ranks", "stopping on SIGUSR1", "requeued",
                  "(restart 1)", "resuming epoch"):
        if words not in text:
            fail("job %s: its log lacks '%s'" % (job, words), text)
    identical(long_reference, out, "the requeued job %s" % job, log)
    print("USR1 to job %s while the teacher trained: stopped with a step checkpoint, requeued (Restarts=%s), "
          "resumed and completed in %.1f s; results.json identical to an uninterrupted mpirun -np 2" %
          (job, job_field(env, job, "Restarts"), time.time() - t0))
    stop_daemons()
    print("ok")


if __name__ == "__main__":
    main()
