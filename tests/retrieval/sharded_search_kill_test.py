#!/usr/bin/env python3
"""A rank lost during sharded search must not leave the others hanging.

Runs bench/sharded_search --mode loop at 3 ranks (searching continuously), then
  1. kill -9 of rank 1: every rank must be gone well within dist.timeout_s, the
     exit status non-zero, and the output must name the lost rank;
  2. SIGSTOP of rank 1 (alive but silent, which the launcher cannot see): the other
     ranks' collectives time out after dist.timeout_s and abort the job with a
     message saying what waited and for how long.
Environment: SHARDED_SEARCH_BIN, MPIEXEC.
"""
import os
import signal
import subprocess
import sys
import time

TIMEOUT_S = 6  # --timeout-s given to the ranks


def start():
    cmd = [os.environ.get("MPIEXEC", "mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", "3",
           os.environ["SHARDED_SEARCH_BIN"], "--mode", "loop", "--rows", "3000", "--dim", "16",
           "--seconds", "120", "--timeout-s", str(TIMEOUT_S)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids, lines = {}, []
    deadline = time.time() + 60
    while len(pids) < 3 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        words = line.split()
        if len(words) >= 5 and words[0] == "rank" and words[2] == "pid" and words[4] == "searching":
            pids[int(words[1])] = int(words[3])
    if len(pids) < 3:
        proc.kill()
        sys.exit("the ranks did not start:\n" + "".join(lines))
    time.sleep(1.0)  # let them get into the search loop
    return proc, pids, lines


def finish(proc, lines, limit):
    began = time.time()
    try:
        out, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        sys.exit("the job was still running %.0f s after losing a rank:\n%s" % (limit, "".join(lines) + out))
    return time.time() - began, "".join(lines) + out


def check(condition, message, output):
    if not condition:
        sys.exit(message + "\n--- output ---\n" + output)


def main():
    proc, pids, lines = start()
    os.kill(pids[1], signal.SIGKILL)
    elapsed, out = finish(proc, lines, TIMEOUT_S + 30)
    print("kill -9: job ended %.1f s after the kill, status %d" % (elapsed, proc.returncode))
    check(proc.returncode != 0, "the job must fail when a rank is killed", out)
    check(elapsed < TIMEOUT_S + 10, "the job took %.1f s to end" % elapsed, out)
    check("rank 1" in out, "the output must name the lost rank (rank 1)", out)

    proc, pids, lines = start()
    os.kill(pids[1], signal.SIGSTOP)
    try:
        elapsed, out = finish(proc, lines, TIMEOUT_S + 30)
    finally:
        try:
            os.kill(pids[1], signal.SIGKILL)
        except ProcessLookupError:
            pass
    print("SIGSTOP: job ended %.1f s after the stop, status %d" % (elapsed, proc.returncode))
    check(proc.returncode != 0, "the job must fail when a rank stops answering", out)
    check(elapsed < TIMEOUT_S + 10, "the job took %.1f s to end" % elapsed, out)
    check("dist.timeout_s" in out and "waited" in out,
          "the surviving ranks must say that a collective timed out", out)
    print("ok")


if __name__ == "__main__":
    main()
