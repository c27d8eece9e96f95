#!/usr/bin/env python3
"""Runs the unittest files of one suite and ends with '<suite>: N passed, M failed'.

usage: run.py SUITE DIR [PATTERN]

With $APPDB_TEST_JOBS above 1, the files matching PATTERN run that many
at a time, each in its own process: every file starts its own servers on
free ports in its own temporary directories, so they do not meet. Each
file's output is printed whole once it is done, in name order, with its
time; the totals are the same as one process would print.
"""
import fnmatch
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

COUNT = re.compile(r"^\S+: (\d+) (passed|failed|skipped)(?:, (\d+) failed)?$")


def run_here(suite_name, start, pattern):
    loader = unittest.TestLoader()
    tests = loader.discover(start, pattern=pattern, top_level_dir=start)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(tests)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print("%s: %d passed, %d failed" % (suite_name, passed, failed), flush=True)
    if result.skipped:
        print("%s: %d skipped" % (suite_name, len(result.skipped)), flush=True)
    return 0 if failed == 0 and result.testsRun > 0 else 1


def run_files(suite_name, start, files, jobs):
    """Each file in a child run.py, jobs at a time; prints in order; exit status."""
    pending, running, done = list(files), {}, {}
    passed = failed = skipped = 0
    order = list(files)
    while pending or running:
        while pending and len(running) < jobs:
            f = pending.pop(0)
            out = tempfile.TemporaryFile("w+")
            p = subprocess.Popen([sys.executable, os.path.abspath(__file__), suite_name, start, f],
                                 stdout=out, stderr=subprocess.STDOUT)
            running[f] = (p, out, time.monotonic())
        time.sleep(0.2)
        for f, (p, out, t0) in list(running.items()):
            if p.poll() is not None:
                done[f] = (p.returncode, out, time.monotonic() - t0)
                del running[f]
        while order and order[0] in done:
            f = order.pop(0)
            rc, out, secs = done.pop(f)
            out.seek(0)
            text = out.read()
            out.close()
            counted = False
            for line in text.splitlines():
                m = COUNT.match(line)
                if m and m.group(2) == "passed":
                    passed += int(m.group(1))
                    failed += int(m.group(3))
                    counted = int(m.group(3)) > 0
                elif m and m.group(2) == "skipped":
                    skipped += int(m.group(1))
                else:
                    print(line)
            if rc != 0 and not counted:  # died, or ran no test: a failure all the same
                failed += 1
            print("== %s: %.1f s" % (f, secs), flush=True)
    print("%s: %d passed, %d failed" % (suite_name, passed, failed), flush=True)
    if skipped:
        print("%s: %d skipped" % (suite_name, skipped), flush=True)
    return 0 if failed == 0 and passed + skipped > 0 else 1


def main():
    args = sys.argv[1:]
    jobs = int(os.environ.get("APPDB_TEST_JOBS", "1") or 1)
    suite_name, start = args[0], args[1]
    pattern = args[2] if len(args) > 2 else "test_*.py"
    files = sorted(f for f in os.listdir(start)
                   if f.endswith(".py") and fnmatch.fnmatch(f, pattern))
    if jobs > 1 and len(files) > 1:
        sys.exit(run_files(suite_name, start, files, jobs))
    sys.exit(run_here(suite_name, start, pattern))


if __name__ == "__main__":
    main()
