#!/usr/bin/env python3
"""Runs the controller's drills (tests/drills/test_*.py) and ends with
'drills: N passed, M failed'.

usage: run.py [short|full]

The short form (inside `make test`) runs the drill files side by side, each
in its own process with its own PostgreSQL and simulator: they mostly wait
on outages and backoffs. The full form (`make drills`) runs them one after
the other, so that their figures are not disturbed by each other."""
import glob
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.path.join(HERE, "..", "lib", "run.py")


def main():
    form = sys.argv[1] if len(sys.argv) > 1 else "short"
    env = dict(os.environ, APPDB_DRILLS=form)
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(HERE, "test_*.py")))
    only = os.environ.get("APPDB_DRILLS_ONLY")
    if only:
        files = [f for f in files if f in only.split(",")]
    start = time.monotonic()
    passed = failed = 0

    def collect(name, p, t0):
        nonlocal passed, failed
        out, _ = p.communicate()
        sys.stderr.write(out)
        m = re.search(r"^drills: (\d+) passed, (\d+) failed", out, re.M)
        if m and p.returncode == 0:
            passed += int(m.group(1))
        else:
            failed += int(m.group(2)) if m and int(m.group(2)) else 1
        sys.stderr.write("== %s: %.1f s\n" % (name, time.monotonic() - t0))

    if form == "full":
        for f in files:
            t0 = time.monotonic()
            p = subprocess.Popen([sys.executable, RUN, "drills", HERE, f], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            collect(f, p, t0)
    else:
        procs = [(f, subprocess.Popen([sys.executable, RUN, "drills", HERE, f], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True), time.monotonic()) for f in files]
        for f, p, t0 in procs:
            collect(f, p, t0)
    print("drills (%s form, %.1f s): %d passed, %d failed"
          % (form, time.monotonic() - start, passed, failed), flush=True)
    print("drills: %d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
