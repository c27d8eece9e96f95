#!/usr/bin/env python3
"""Runs the AWS test suite: every test_* function of tests/aws/test_*.py
and the SigV4 vector check of the fake. Prints one line per test and ends
with "aws: N passed, M failed[, K skipped]"; exits 1 on any failure."""
import importlib.util
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lib  # noqa: E402


def main():
    only = sys.argv[1:]
    passed = failed = skipped = 0
    # The fake's own SigV4 implementation against the published vectors.
    p = subprocess.run([sys.executable, os.path.join(lib.ROOT, "tests", "fakeaws", "test_sigv4.py")],
                       capture_output=True, text=True)
    if p.returncode == 0:
        passed += 1
        print("PASS fakeaws sigv4 vectors (%s)" % p.stdout.strip().splitlines()[-1])
    else:
        failed += 1
        print("FAIL fakeaws sigv4 vectors\n" + p.stdout + p.stderr)
    # The fuzz targets replay their seed corpus (clang, libFuzzer, ASan).
    p = subprocess.run([os.path.join(lib.ROOT, "tests", "fuzz", "run.sh"), "regress"],
                       capture_output=True, text=True)
    if p.returncode == 0:
        passed += 1
        print("PASS fuzz corpus regression (%s)" % p.stdout.strip().splitlines()[-1])
    else:
        failed += 1
        print("FAIL fuzz corpus regression\n" + p.stdout + p.stderr)
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(HERE, name))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        ctx = mod.setup() if hasattr(mod, "setup") else None
        try:
            for fn in sorted(n for n in dir(mod) if n.startswith("test_")):
                full = "%s.%s" % (name[:-3], fn)
                if only and not any(o in full for o in only):
                    continue
                t0 = time.time()
                try:
                    getattr(mod, fn)(ctx)
                    passed += 1
                    print("PASS %s (%.1fs)" % (full, time.time() - t0))
                except lib.Skip as e:
                    skipped += 1
                    print("SKIP %s: %s" % (full, e))
                except Exception as e:  # noqa: BLE001
                    failed += 1
                    print("FAIL %s: %s" % (full, e))
                    traceback.print_exc(limit=3, file=sys.stdout)
                sys.stdout.flush()
        finally:
            if hasattr(mod, "teardown"):
                mod.teardown(ctx)
    line = "aws: %d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
