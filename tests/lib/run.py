#!/usr/bin/env python3
"""Runs the unittest files of one suite and ends with '<suite>: N passed, M failed'.

usage: run.py SUITE DIR [PATTERN]
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    suite_name, start = sys.argv[1], sys.argv[2]
    pattern = sys.argv[3] if len(sys.argv) > 3 else "test_*.py"
    loader = unittest.TestLoader()
    tests = loader.discover(start, pattern=pattern, top_level_dir=start)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(tests)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print("%s: %d passed, %d failed" % (suite_name, passed, failed), flush=True)
    if result.skipped:
        print("%s: %d skipped" % (suite_name, len(result.skipped)), flush=True)
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)


if __name__ == "__main__":
    main()
